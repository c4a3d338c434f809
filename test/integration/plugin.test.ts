// The flatnet binary through the raw CNI protocol, in throw-away namespaces:
// one plays the node (the runtime's namespace), others the pods.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createNetns, deleteAllNetns, deleteNetns, inNs, ipJson, isRoot, type Netns } from '../helpers/netns.ts';
import { bridgeConf, flatnet, flatnetIpam, runPlugin, tempDir, VERSIONS, BIN_DIR } from '../helpers/plugin.ts';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';

describe.runIf(isRoot())('flatnet plugin (raw CNI protocol, real namespaces)', () => {
  let node: Netns;
  let data: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    node = await createNetns('node');
    data = tempDir('fnt-data');
  });
  afterEach(async () => {
    await deleteAllNetns();
    data.remove();
  });
  afterAll(deleteAllNetns);

  const store = (name = 'fntnet') => (existsSync(join(data.path, name)) ? readdirSync(join(data.path, name)).filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes('.') || f.includes(':')) : []);
  const natRules = async () => (await inNs(node, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('CNI-'));
  const hostVeths = async () => (await ipJson<any[]>(node, ['link', 'show', 'type', 'veth'])).map((l) => l.ifname);

  for (const version of VERSIONS) {
    it(`ADD, CHECK, DEL, DEL again with cniVersion ${version}`, async () => {
      const pod = await createNetns('pod');
      const conf = bridgeConf({ version, dataDir: data.path });
      const call = { containerId: 'ctr1', netns: pod.path };
      const add = await runPlugin(node, flatnet, conf, { ...call, command: 'ADD' });
      expect(add.exitCode, add.stdout + add.stderr).toBe(0);
      expect(add.json.cniVersion).toBe(version);
      expect(add.json.interfaces.map((i: any) => i.name)).toEqual(['fnbr0', expect.stringMatching(/^veth[0-9a-f]{8}$/), 'eth0']);
      expect(add.json.interfaces[2].sandbox).toBe(pod.path);
      expect(add.json.ips).toEqual([{ ...(version.startsWith('0.') ? { version: '4' } : {}), interface: 2, address: '10.250.0.2/24', gateway: '10.250.0.1' }]);
      expect(add.stderr).toBe('');

      // The pod reaches its gateway on the bridge.
      const ping = await inNs(pod, ['ping', '-c', '1', '-W', '2', '10.250.0.1']);
      expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
      expect(await natRules()).toHaveLength(4); // chain, jump, ACCEPT, MASQUERADE

      if (version !== '0.3.0' && version !== '0.3.1') {
        const check = await runPlugin(node, flatnet, { ...conf, prevResult: add.json }, { ...call, command: 'CHECK' });
        expect(check.exitCode, check.stdout).toBe(0);
        expect(check.stdout).toBe('');
      }
      const del = await runPlugin(node, flatnet, { ...conf, prevResult: add.json }, { ...call, command: 'DEL' });
      expect(del.exitCode, del.stdout).toBe(0);
      expect(del.stdout).toBe('');
      expect(await ipJson(pod, ['link', 'show', 'eth0'])).toEqual([]);
      expect(await hostVeths()).toEqual([]);
      expect(store()).toEqual([]);
      expect(await natRules()).toEqual([]);
      const again = await runPlugin(node, flatnet, conf, { ...call, command: 'DEL' });
      expect(again.exitCode, again.stdout).toBe(0);
    });
  }

  it('CHECK after a manual removal of the pod address fails and names what is missing', async () => {
    const pod = await createNetns('pod');
    const conf = bridgeConf({ dataDir: data.path });
    const add = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: pod.path });
    await inNs(pod, ['ip', 'addr', 'del', add.json.ips[0].address, 'dev', 'eth0']);
    const check = await runPlugin(node, flatnet, { ...conf, prevResult: add.json }, { command: 'CHECK', containerId: 'a', netns: pod.path });
    expect(check.exitCode).not.toBe(0);
    expect(check.json.msg).toBe(`address ${add.json.ips[0].address} is missing from eth0`);
    // and when the host veth has been taken off the bridge
    await inNs(pod, ['ip', 'addr', 'add', add.json.ips[0].address, 'dev', 'eth0']);
    await inNs(node, ['ip', 'link', 'set', add.json.interfaces[1].name, 'nomaster']);
    const check2 = await runPlugin(node, flatnet, { ...conf, prevResult: add.json }, { command: 'CHECK', containerId: 'a', netns: pod.path });
    expect(check2.json.msg).toBe(`host veth ${add.json.interfaces[1].name} is not attached to fnbr0`);
  });

  it('connects two pods on one bridge, with MTU and hairpin applied', async () => {
    const [p1, p2] = [await createNetns('p1'), await createNetns('p2')];
    const conf = bridgeConf({ dataDir: data.path, extra: { mtu: 1400, hairpinMode: true } });
    const a = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: p1.path });
    const b = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'b', netns: p2.path });
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    const ipB = b.json.ips[0].address.split('/')[0];
    expect((await inNs(p1, ['ping', '-c', '1', '-W', '2', ipB])).exitCode).toBe(0);
    const [eth0] = await ipJson<any[]>(p1, ['link', 'show', 'eth0']);
    expect(eth0.mtu).toBe(1400);
    const [hv] = await ipJson<any[]>(node, ['-d', 'link', 'show', a.json.interfaces[1].name]);
    expect(hv.mtu).toBe(1400);
    expect(hv.master).toBe('fnbr0');
    expect(hv.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(eth0.address).toBe(a.json.interfaces[2].mac);
    const [br] = await ipJson<any[]>(node, ['addr', 'show', 'fnbr0']);
    expect(br.addr_info.map((x: any) => `${x.local}/${x.prefixlen}`)).toContain('10.250.0.1/24');
    expect((await inNs(node, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('1');
  });

  it('DEL succeeds and releases everything when the netns has vanished, was unmounted, or CNI_NETNS is empty', async () => {
    const [p1, p2, p3] = [await createNetns('p1'), await createNetns('p2'), await createNetns('p3')];
    const conf = bridgeConf({ dataDir: data.path });
    for (const [id, p] of [['a', p1], ['b', p2], ['c', p3]] as const) expect((await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: id, netns: p.path })).exitCode).toBe(0);
    await deleteNetns(p1);
    const gone = await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: 'a', netns: p1.path });
    expect(gone.exitCode, gone.stdout).toBe(0);
    const empty = await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: 'b', netns: '' });
    expect(empty.exitCode, empty.stdout).toBe(0);
    // Unmounted, its empty mount point left behind (found from outside: code 4, lease and rules leaked).
    await execa('umount', [p3.path]);
    const unmounted = await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: 'c', netns: p3.path });
    expect(unmounted.exitCode, unmounted.stdout).toBe(0);
    // Not every file is a gone netns: ADD and CHECK still refuse it.
    expect((await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'd', netns: p3.path })).json?.code).toBe(4);
    expect(store()).toEqual([]);
    // The Go plugin leaks these when CNI_NETNS is empty (plugins#810); we do not.
    expect(await natRules()).toEqual([]);
  });

  // Found by a new user: the chain's name hashes network and ID (as Go's), so
  // a second interface's failed ADD, or its DEL, took the first one's masquerade.
  it("two interfaces of one container share the masquerade chain: undoing or deleting one keeps the other's", async () => {
    const pod = await createNetns('pod');
    const conf = bridgeConf({ dataDir: data.path });
    const rules = async () => {
      const r = await natRules();
      return { jumps: r.filter((l) => l.startsWith('-A POSTROUTING')).length, chain: r.filter((l) => l.startsWith('-A CNI-')).length };
    };
    const call = (c: object, command: string, ifName = 'eth0') => runPlugin(node, flatnet, c, { command, containerId: 'm', netns: pod.path, ifName });
    const eth0 = await call(conf, 'ADD');
    expect(eth0.exitCode, eth0.stdout).toBe(0);
    expect(await rules()).toEqual({ jumps: 1, chain: 2 });
    // net1's route via a gateway off every subnet fails in the pod, after its
    // masquerade: the ADD is undone, and the runtime's cleanup DEL (no
    // prevResult: there was no result) keeps eth0's rules too.
    const failing = bridgeConf({ dataDir: data.path, ipamExtra: { routes: [{ dst: '192.0.2.0/24', gw: '198.51.100.1' }] } });
    expect((await call(failing, 'ADD', 'net1')).exitCode).toBe(1);
    expect(await rules()).toEqual({ jumps: 1, chain: 2 });
    expect((await call(failing, 'DEL', 'net1')).exitCode).toBe(0);
    expect(await rules()).toEqual({ jumps: 1, chain: 2 });
    const noRoutes = bridgeConf({ dataDir: data.path, ipamExtra: { routes: [] } });
    const net1 = await call(noRoutes, 'ADD', 'net1');
    expect(net1.exitCode, net1.stdout).toBe(0);
    expect((await call(noRoutes, 'ADD', 'net2')).exitCode).toBe(0);
    expect(await rules()).toEqual({ jumps: 3, chain: 2 });
    // With prevResult: exactly its own jump. Without: everything but what the other live interfaces use.
    expect((await call({ ...noRoutes, prevResult: net1.json }, 'DEL', 'net1')).exitCode).toBe(0);
    expect(await rules()).toEqual({ jumps: 2, chain: 2 });
    expect((await call(noRoutes, 'DEL', 'net2')).exitCode).toBe(0);
    expect(await rules()).toEqual({ jumps: 1, chain: 2 });
    expect((await call({ ...conf, prevResult: eth0.json }, 'DEL')).exitCode).toBe(0);
    expect(await natRules()).toEqual([]);
    expect(store()).toEqual([]);
  });

  it('ADD of an interface name that already exists in the pod fails cleanly', async () => {
    const pod = await createNetns('pod');
    await inNs(pod, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
    const conf = bridgeConf({ dataDir: data.path });
    const r = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: pod.path });
    expect(r.exitCode).not.toBe(0);
    expect(r.json).toMatchObject({ code: 103, msg: 'container veth name provided (eth0) already exists' });
    expect(await hostVeths()).toEqual([]);
    expect(store()).toEqual([]);
    expect(await natRules()).toEqual([]);
  });

  it('an ADD that fails after creating the veth leaves nothing behind', async () => {
    const pod = await createNetns('pod');
    // A route via a gateway off every connected subnet fails inside the pod,
    // after the veth, the IPAM allocation and the bridge port exist.
    const conf = bridgeConf({ dataDir: data.path, ipamExtra: { routes: [{ dst: '192.0.2.0/24', gw: '198.51.100.1' }] } });
    const r = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: pod.path });
    expect(r.exitCode).not.toBe(0);
    expect(r.json.msg).toContain('route prepend 192.0.2.0/24 via 198.51.100.1');
    expect(await hostVeths()).toEqual([]);
    expect(await ipJson(pod, ['link', 'show', 'eth0'])).toEqual([]);
    expect(store()).toEqual([]);
    expect(await natRules()).toEqual([]);
  });

  it('rejects a CNI_NETNS that is not a namespace, and the plugin\'s own namespace', async () => {
    const conf = bridgeConf({ dataDir: data.path });
    const notNs = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: data.path });
    expect(notNs.json).toMatchObject({ code: 4 });
    expect(notNs.json.msg).toContain('is not a network namespace');
    const own = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: node.path });
    expect(own.json).toMatchObject({ code: 8 });
    expect(store()).toEqual([]);
  });

  it('delegates to an IPAM binary by exec when it is not our own build beside us', async () => {
    const pod = await createNetns('pod');
    const other = tempDir('fnt-bin');
    try {
      mkdirSync(other.path, { recursive: true });
      cpSync(join(BIN_DIR, 'flatnet-ipam'), join(other.path, 'flatnet-ipam'));
      const conf = bridgeConf({ dataDir: data.path });
      const call = { containerId: 'a', netns: pod.path, path: `${other.path}:${BIN_DIR}` };
      const r = await runPlugin(node, flatnet, conf, { ...call, command: 'ADD' });
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.json.ips[0].address).toBe('10.250.0.2/24');
      expect((await runPlugin(node, flatnet, conf, { ...call, command: 'DEL' })).exitCode).toBe(0);
      expect(store()).toEqual([]);
      // An IPAM error object comes back unchanged.
      const bad = await runPlugin(node, flatnet, { ...conf, ipam: { ...conf.ipam, ranges: [[{ subnet: '10.0.0.0/31' }]] } }, { ...call, command: 'ADD' });
      expect(bad.json).toMatchObject({ code: 7, msg: 'invalid range set 0: Network 10.0.0.0/31 too small to allocate from' });
      expect(await hostVeths()).toEqual([]);
    } finally {
      other.remove();
    }
  });

  it('STATUS and GC (spec 1.1.0): GC removes allocations and masquerade rules of attachments not listed', async () => {
    const [p1, p2] = [await createNetns('p1'), await createNetns('p2')];
    const conf = bridgeConf({ version: '1.1.0', dataDir: data.path });
    await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: p1.path });
    await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'b', netns: p2.path });
    expect((await runPlugin(node, flatnet, conf, { command: 'STATUS' })).exitCode).toBe(0);
    const gc = await runPlugin(node, flatnet, { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] }, { command: 'GC' });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(store()).toEqual(['10.250.0.3']);
    expect((await natRules()).every((l) => l.includes('id: \\"b\\"') || !l.includes('comment'))).toBe(true);
    expect((await natRules()).length).toBe(4);
  });

  it('GC without a well-formed cni.dev/valid-attachments is refused (code 7), through flatnet and flatnet-ipam: two live pods keep leases and masquerade', async () => {
    const [p1, p2] = [await createNetns('p1'), await createNetns('p2')];
    const conf = bridgeConf({ version: '1.1.0', dataDir: data.path });
    for (const [id, p] of [['a', p1], ['b', p2]] as const) expect((await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: id, netns: p.path })).exitCode).toBe(0);
    const before = { leases: store(), nat: await natRules() };
    expect(before.leases).toHaveLength(2);
    expect(before.nat.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(2);
    const bare = conf; // bridgeConf carries no valid-attachments
    const bad: Array<[string, object]> = [
      ['no key', bare],
      ['a misspelt key', { ...bare, 'cni.dev/valid_attachments': [{ containerID: 'a', ifname: 'eth0' }] }],
      ['a string', { ...bare, 'cni.dev/valid-attachments': 'a/eth0' }],
      ['an object', { ...bare, 'cni.dev/attachments': { containerID: 'a', ifname: 'eth0' } }],
      ['a list of strings', { ...bare, 'cni.dev/valid-attachments': ['a'] }],
    ];
    for (const [what, c] of bad) {
      for (const bin of [flatnet, flatnetIpam]) {
        const gc = await runPlugin(node, bin, c, { command: 'GC' });
        expect(gc.exitCode, `${what} (${bin})`).not.toBe(0);
        expect(gc.json, `${what} (${bin})`).toMatchObject({ code: 7 });
        expect(store(), `${what} (${bin})`).toEqual(before.leases);
        expect(await natRules(), `${what} (${bin})`).toEqual(before.nat);
      }
    }
    // libcni marshals a runtime's nil list of live attachments as null: that is the empty list.
    const gc = await runPlugin(node, flatnet, { ...bare, 'cni.dev/valid-attachments': null, 'cni.dev/attachments': null }, { command: 'GC' });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(store()).toEqual([]);
    expect(await natRules()).toEqual([]);
  });

  // Found from outside: the real address's chain and jump stayed (Go takes the addresses from the interface).
  it('DEL with a prevResult naming another address removes the masquerade of the real one, and keeps that of the container\'s other interface', async () => {
    const pod = await createNetns('pod');
    const conf = { ...bridgeConf({ dataDir: data.path, ipamExtra: { routes: [] } }), ipMasqBackend: 'iptables' };
    const call = (ifName: string) => ({ containerId: 'c', netns: pod.path, ifName });
    const a0 = await runPlugin(node, flatnet, conf, { ...call('eth0'), command: 'ADD' });
    const a1 = await runPlugin(node, flatnet, conf, { ...call('eth1'), command: 'ADD' });
    expect([a0.exitCode, a1.exitCode]).toEqual([0, 0]);
    const wrong = { ...a0.json, ips: [{ ...a0.json.ips[0], address: '10.250.0.99/24' }] };
    const del = await runPlugin(node, flatnet, { ...conf, prevResult: wrong }, { ...call('eth0'), command: 'DEL' });
    expect(del.exitCode, del.stdout).toBe(0);
    const jumps = (await natRules()).filter((l) => l.startsWith('-A POSTROUTING'));
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toContain(`-s ${a1.json.ips[0].address.split('/')[0]}/32`);
    // The second interface's DEL, prevResult wrong again and the namespace gone: nothing is left.
    await deleteNetns(pod);
    const del1 = await runPlugin(node, flatnet, { ...conf, prevResult: { ...a1.json, ips: [{ ...a1.json.ips[0], address: '10.250.0.98/24' }] } }, { ...call('eth1'), command: 'DEL' });
    expect(del1.exitCode, del1.stdout).toBe(0);
    expect(await natRules()).toEqual([]);
    expect(store()).toEqual([]);
  });

  // Found from outside: GCs racing DELs failed with 999 "Chain ... does not exist" (iptables-restore is all or nothing).
  it('three GCs racing 30 DELs on iptables all succeed and leave no rule', async () => {
    const pod = await createNetns('pod');
    const conf = { ...bridgeConf({ version: '1.1.0', dataDir: data.path, ipamExtra: { routes: [] } }), ipMasqBackend: 'iptables' };
    const ids = Array.from({ length: 30 }, (_, i) => `race${i}`);
    for (const [i, id] of ids.entries()) expect((await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: id, netns: pod.path, ifName: `e${i}` })).exitCode).toBe(0);
    expect((await natRules()).filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(30);
    const gc = () => runPlugin(node, flatnet, { ...conf, 'cni.dev/valid-attachments': [] }, { command: 'GC' });
    const dels = ids.map((id, i) => runPlugin(node, flatnet, conf, { command: 'DEL', containerId: id, netns: pod.path, ifName: `e${i}` }));
    const all = await Promise.all([...dels.slice(0, 10), gc(), ...dels.slice(10, 20), gc(), ...dels.slice(20), gc()]);
    expect(all.filter((r) => r.exitCode !== 0).map((r) => r.stdout)).toEqual([]);
    expect(await natRules()).toEqual([]);
    expect(store()).toEqual([]);
  });

  it('answers STATUS 50 while the node agent reports the node not ready', async () => {
    const statusFile = join(data.path, 'agent.json');
    const conf = { ...bridgeConf({ version: '1.1.0', dataDir: data.path }), agentStatusFile: statusFile };
    writeFileSync(statusFile, JSON.stringify({ node: 'n1', ready: false }));
    const notReady = await runPlugin(node, flatnet, conf, { command: 'STATUS' });
    expect(notReady.json).toMatchObject({ code: 50, msg: 'flatnet agent has not finished setting up this node' });
    writeFileSync(statusFile, JSON.stringify({ node: 'n1', ready: true }));
    expect((await runPlugin(node, flatnet, conf, { command: 'STATUS' })).exitCode).toBe(0);
  });

  it('leaves one line per run in the node\'s plugin log, rotated at logOptions.maxSize', async () => {
    const pod = await createNetns('pod');
    const logFile = join(data.path, 'log', 'cni.log');
    const conf = { ...bridgeConf({ dataDir: data.path }), logFile, logOptions: { maxSize: 2 / 1024, maxBackups: 2 } };
    const add = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'logged', netns: pod.path });
    expect(add.exitCode, add.stdout).toBe(0);
    const bad = await runPlugin(node, flatnet, { ...conf, mtu: 'x' }, { command: 'ADD', containerId: 'bad', netns: pod.path });
    expect(bad.exitCode).toBe(1);
    // The failure is said once on stderr, as a log line, besides the error object on stdout.
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    // A config refused before it is decoded (found from outside: its line went to the default log).
    expect((await runPlugin(node, flatnet, { ...conf, cniVersion: '9.9.9' }, { command: 'ADD', containerId: 'refused', netns: pod.path })).json?.code).toBe(1);
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ level: 'info', command: 'ADD', containerId: 'logged', netns: pod.path, ifName: 'eth0', addresses: ['10.250.0.2/24'], code: 0 });
    expect(lines[0].ms).toBeGreaterThan(0);
    expect(lines[1]).toMatchObject({ level: 'error', command: 'ADD', containerId: 'bad', code: 7 });
    expect(lines[2]).toMatchObject({ level: 'error', command: 'ADD', containerId: 'refused', code: 1 });
    // ~200 bytes a line against a 2 KiB bound: 30 more runs rotate it, and only two backups are kept.
    for (let i = 0; i < 15; i++) {
      await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: `gone${i}`, netns: pod.path });
      await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: `gone${i}`, netns: pod.path });
    }
    const files = readdirSync(join(data.path, 'log')).sort();
    expect(files).toEqual(['cni.log', 'cni.log.1', 'cni.log.2']);
    for (const f of files) expect(statSync(join(data.path, 'log', f)).size).toBeLessThan(2048 + 400);
  });

  // Found from outside: "/dev/stdout" put a log line after the result, and a FIFO hung the plugin after it.
  it('writes its log only to a regular file: /dev/stdout, a FIFO or a tty-like device as logFile are refused on stderr, the result stays JSON', async () => {
    const pod = await createNetns('pod');
    const fifo = join(data.path, 'log.fifo');
    await execa('mkfifo', [fifo]);
    const dir = join(data.path, 'log-dir');
    mkdirSync(dir);
    const cases: Array<[string, string]> = [
      ['/dev/stdout', 'is this plugin\'s stdout'],
      ['/proc/self/fd/1', 'is this plugin\'s stdout'],
      [fifo, 'is a FIFO or socket'],
      ['/dev/zero', 'is not a regular file'],
      [dir, 'is a directory'],
    ];
    for (const [i, [logFile, why]] of cases.entries()) {
      const conf = { ...bridgeConf({ dataDir: data.path }), logFile };
      const call = { containerId: `log${i}`, netns: pod.path, ifName: `eth${i}`, timeoutMs: 10_000, pipeStdout: true };
      const add = await runPlugin(node, flatnet, conf, { ...call, command: 'ADD' });
      expect(add.exitCode, `${logFile}: ${add.stderr}`).toBe(0);
      expect(add.json?.ips?.[0]?.address, `${logFile}: stdout ${JSON.stringify(add.stdout)}`).toMatch(/^10\.250\.0\.\d+\/24$/);
      expect(add.stderr, logFile).toContain(`log file ${logFile} ${why}`);
      const del = await runPlugin(node, flatnet, conf, { ...call, command: 'DEL' });
      expect([del.exitCode, del.stdout], logFile).toEqual([0, '']);
    }
    // /dev/null is a quiet discard.
    const quiet = await runPlugin(node, flatnet, { ...bridgeConf({ dataDir: data.path }), logFile: '/dev/null' }, { command: 'ADD', containerId: 'quiet', netns: pod.path, timeoutMs: 10_000 });
    expect(quiet.json?.ips).toHaveLength(1);
    expect(quiet.stderr).toBe('');
    // The same for FLATNET_LOG_FILE, the process log (a failure is logged there): stdout is only the error object.
    for (const file of ['/dev/stdout', fifo]) {
      const bad = await runPlugin(node, flatnet, { ...bridgeConf({ dataDir: data.path }), logFile: '/dev/null', mtu: 'x' }, { command: 'ADD', containerId: 'bad', netns: pod.path, extraEnv: { FLATNET_LOG_FILE: file }, timeoutMs: 10_000, pipeStdout: true });
      expect(bad.json, `${file}: ${bad.stdout}`).toMatchObject({ code: 7 });
      expect(bad.stderr, file).toContain(`FLATNET_LOG_FILE: log file ${file}`);
    }
  });

  it('answers STATUS 50 when the range is exhausted', async () => {
    const pod = await createNetns('pod');
    const conf = bridgeConf({ version: '1.1.0', dataDir: data.path, subnet: '10.250.0.0/30' });
    expect((await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: pod.path })).exitCode).toBe(0);
    const st = await runPlugin(node, flatnet, conf, { command: 'STATUS' });
    expect(st.json).toMatchObject({ code: 50 });
  });

  it('answers STATUS 50 when one range set of a dual-stack config is exhausted (every ADD fails), through flatnet and flatnet-ipam', async () => {
    const [p1, p2] = [await createNetns('p1'), await createNetns('p2')];
    const conf = bridgeConf({ version: '1.1.0', dataDir: data.path, ipamExtra: { ranges: [[{ subnet: '10.250.0.0/30' }], [{ subnet: 'fd00:fa::/64' }]], routes: [] } });
    for (const bin of [flatnet, flatnetIpam]) expect((await runPlugin(node, bin, conf, { command: 'STATUS' })).exitCode, bin).toBe(0);
    const add = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'a', netns: p1.path });
    expect(add.exitCode, add.stdout).toBe(0);
    // The /30's one address is taken; the /64 has 2^64 left, yet no ADD can succeed.
    const second = await runPlugin(node, flatnet, conf, { command: 'ADD', containerId: 'b', netns: p2.path });
    expect(second.json).toMatchObject({ code: 100 });
    for (const bin of [flatnet, flatnetIpam]) {
      const st = await runPlugin(node, bin, conf, { command: 'STATUS' });
      expect(st.exitCode, bin).not.toBe(0);
      expect(st.json, bin).toMatchObject({ code: 50, msg: 'no IP addresses available in range set 0 (10.250.0.1-10.250.0.2)' });
    }
    expect((await runPlugin(node, flatnet, conf, { command: 'DEL', containerId: 'a', netns: p1.path })).exitCode).toBe(0);
    expect((await runPlugin(node, flatnet, conf, { command: 'STATUS' })).exitCode).toBe(0);
  });
});
