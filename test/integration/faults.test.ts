// kill -9 of the plugin at random points of ADD, each followed by the DEL a
// runtime sends: nothing may be left behind, and the node keeps working.
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, inNs, ipJson, isRoot, type Netns } from '../helpers/netns.ts';
import { bridgeConf, CNI_PATH, flatnet, runPlugin, tempDir } from '../helpers/plugin.ts';
import { useBed } from '../helpers/bed.ts';

const TRIALS = Number(process.env.FLATNET_KILL_TRIALS ?? 200);

describe.runIf(isRoot())('kill -9 during ADD', () => {
  const bed = useBed('fnt-kill');

  function addThenKill(conf: object, id: string, afterMs: number): Promise<string> {
    return new Promise((resolve) => {
      const env = { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: bed.pod.path, CNI_IFNAME: 'eth0', CNI_PATH };
      // ip netns exec execs the plugin in place, so the pid is the plugin's.
      const child = spawn('ip', ['netns', 'exec', bed.node.name, flatnet], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.end(JSON.stringify(conf));
      const t = setTimeout(() => child.kill('SIGKILL'), afterMs);
      child.on('exit', (code, signal) => {
        clearTimeout(t);
        resolve(signal === 'SIGKILL' ? 'killed' : `exit ${code}`);
      });
    });
  }

  it(`leaves nothing behind after ${TRIALS} kills at random points followed by DEL`, async () => {
    const conf = bridgeConf({ dataDir: bed.data.path });
    const dir = join(bed.data.path, 'fntnet');
    const outcomes = new Map<string, number>();
    const leaks: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const id = `kill-${i}`;
      // Spread over the whole ADD (~25-40 ms here), denser early where most steps are.
      const delay = Math.floor(Math.random() ** 1.5 * 45);
      const o = await addThenKill(conf, id, delay);
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      const del = await runPlugin(bed.node, flatnet, conf, { command: 'DEL', containerId: id, netns: bed.pod.path });
      if (del.exitCode !== 0) leaks.push(`trial ${i} (${delay} ms): DEL failed: ${del.stdout}`);
      const veths = (await ipJson<any[]>(bed.node, ['link', 'show', 'type', 'veth'])).map((l) => l.ifname);
      const podLinks = (await ipJson<any[]>(bed.pod, ['link', 'show'])).map((l) => l.ifname).filter((n) => n !== 'lo');
      const files = existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.')) : [];
      const nat = (await inNs(bed.node, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('CNI-'));
      if (veths.length || podLinks.length || files.length || nat.length) {
        leaks.push(`trial ${i} (${delay} ms, ${o}): veths=${veths} pod=${podLinks} files=${files} nat=${nat.length}`);
      }
    }
    expect(leaks).toEqual([]);
    // Both sides of the race were exercised: some ADDs died, some finished.
    expect(outcomes.get('killed') ?? 0).toBeGreaterThan(TRIALS / 4);
    const ok = await runPlugin(bed.node, flatnet, conf, { command: 'ADD', containerId: 'after', netns: bed.pod.path });
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect((await inNs(bed.pod, ['ping', '-c', '1', '-W', '2', ok.json.ips[0].gateway])).exitCode).toBe(0);
  }, 600_000);
});

describe.runIf(isRoot())('concurrency and churn (flatnet-ipam binary)', () => {
  const bed = useBed('fnt-churn');
  const ipam = join(CNI_PATH.split(':')[0]!, 'flatnet-ipam');
  const conf = () => ({ cniVersion: '1.0.0', name: 'churn', type: 'flatnet', ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.41.0.0/22' }]], dataDir: bed.data.path } });
  const leases = () => readdirSync(join(bed.data.path, 'churn')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  const add = (id: string) => runPlugin(bed.node, ipam, conf(), { command: 'ADD', containerId: id, netns: '/none' });
  const del = (id: string) => runPlugin(bed.node, ipam, conf(), { command: 'DEL', containerId: id });

  it('110 ADDs racing 55 DELs of other pods: no duplicate, the store holds exactly the live pods', async () => {
    const old = Array.from({ length: 55 }, (_, i) => `old-${i}`);
    for (const id of old) expect((await add(id)).exitCode).toBe(0);
    const fresh = Array.from({ length: 110 }, (_, i) => `new-${i}`);
    const [adds, dels] = await Promise.all([Promise.all(fresh.map(add)), Promise.all(old.map(del))]);
    expect(adds.filter((r) => r.exitCode !== 0)).toEqual([]);
    expect(dels.filter((r) => r.exitCode !== 0)).toEqual([]);
    const addrs = adds.map((r) => r.json.ips[0].address.split('/')[0]);
    expect(new Set(addrs).size).toBe(110);
    expect(leases().sort()).toEqual([...addrs].sort());
    await Promise.all(fresh.map(del));
    expect(leases()).toEqual([]);
  }, 120_000);

  it(`ADD/DEL churn of ${Number(process.env.FLATNET_CHURN ?? 1000)} pods, 20 at a time: never a duplicate, empty store at the end`, async () => {
    const total = Number(process.env.FLATNET_CHURN ?? 1000);
    const live = new Map<string, string>();
    const dups: string[] = [];
    for (let base = 0; base < total; base += 20) {
      const ids = Array.from({ length: Math.min(20, total - base) }, (_, i) => `churn-${base + i}`);
      const rs = await Promise.all(ids.map(add));
      rs.forEach((r, i) => {
        const ip = r.json?.ips?.[0]?.address;
        if ([...live.values()].includes(ip)) dups.push(`${ids[i]} got ${ip}`);
        live.set(ids[i]!, ip);
      });
      // Release the previous round's pods while this round's are live.
      const prev = [...live.keys()].filter((k) => !ids.includes(k));
      await Promise.all(prev.map(del));
      for (const k of prev) live.delete(k);
    }
    await Promise.all([...live.keys()].map(del));
    expect(dups).toEqual([]);
    expect(leases()).toEqual([]);
  }, 600_000);
});

describe.runIf(isRoot())('bad input through the binary: the right code, a message naming the field, no change on the node', () => {
  const bed = useBed('fnt-bad');
  const good = () => bridgeConf({ dataDir: bed.data.path, version: '1.1.0' });
  const ipamWith = (extra: object) => ({ ...good(), ipam: { ...good().ipam, ...extra } });
  type Case = [string, () => object | string, Record<string, string>, number, string];
  const env = (over: Record<string, string> = {}) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: bed.pod.path, CNI_IFNAME: 'eth0', CNI_PATH, ...over });
  const cases: Case[] = [
    ['unknown command', good, { CNI_COMMAND: 'BOGUS' }, 4, 'unknown CNI_COMMAND: BOGUS'],
    ['lower-case command', good, { CNI_COMMAND: 'add' }, 4, 'unknown CNI_COMMAND'],
    ['missing container id', good, { CNI_CONTAINERID: '' }, 4, 'CNI_CONTAINERID'],
    ['missing netns', good, { CNI_NETNS: '' }, 4, 'CNI_NETNS'],
    ['missing ifname', good, { CNI_IFNAME: '' }, 4, 'CNI_IFNAME'],
    ['missing path', good, { CNI_PATH: '' }, 4, 'CNI_PATH'],
    ['container id with a slash', good, { CNI_CONTAINERID: 'a/b' }, 4, 'invalid characters in containerID'],
    ['container id with a space', good, { CNI_CONTAINERID: 'a b' }, 4, 'invalid characters in containerID'],
    ['container id starting with a dot', good, { CNI_CONTAINERID: '.a' }, 4, 'invalid characters in containerID'],
    ['container id of 300 chars', good, { CNI_CONTAINERID: 'a'.repeat(300) }, 4, 'containerID is 300 characters long; flatnet takes at most 253'],
    ['ifname too long', good, { CNI_IFNAME: 'eth0123456789012' }, 4, 'interface name is too long'],
    ['ifname with colon', good, { CNI_IFNAME: 'eth:0' }, 4, 'interface name contains'],
    ['ifname dot-dot', good, { CNI_IFNAME: '..' }, 4, 'interface name is . or ..'],
    ['ifname with space', good, { CNI_IFNAME: 'et h0' }, 4, 'interface name contains'],
    ['netns not a namespace', good, { CNI_NETNS: '/tmp' }, 4, 'is not a network namespace'],
    ['netns missing', good, { CNI_NETNS: '/var/run/netns/fnt-does-not-exist' }, 4, 'failed to open netns'],
    ['malformed CNI_ARGS', good, { CNI_ARGS: 'IP=10.250.0.9;' }, 4, 'ARGS: invalid pair'],
    ['unknown CNI_ARGS key', good, { CNI_ARGS: 'K8S_POD_NAME=x' }, 4, 'ARGS: unknown args'],
    ['value with =', good, { CNI_ARGS: 'IP=a=b' }, 4, 'ARGS: invalid pair'],
    ['empty stdin', () => '', {}, 6, 'error unmarshall network config'],
    ['truncated JSON', () => '{"cniVersion":', {}, 6, 'error unmarshall network config'],
    ['JSON array', () => '[]', {}, 6, 'not a JSON object'],
    ['JSON string', () => '"x"', {}, 6, 'not a JSON object'],
    ['cniVersion number', () => ({ ...good(), cniVersion: 1 }), {}, 6, 'cniVersion must be a string'],
    ['unknown cniVersion', () => ({ ...good(), cniVersion: '2.0.0' }), {}, 1, 'incompatible CNI versions'],
    ['cniVersion 0.9.0', () => ({ ...good(), cniVersion: '0.9.0' }), {}, 1, 'incompatible CNI versions'],
    ['CHECK at 0.3.1', () => ({ ...good(), cniVersion: '0.3.1' }), { CNI_COMMAND: 'CHECK' }, 1, 'config version does not allow CHECK'],
    ['GC at 1.0.0', () => ({ ...good(), cniVersion: '1.0.0' }), { CNI_COMMAND: 'GC' }, 1, 'config version does not allow GC'],
    ['STATUS at 0.4.0', () => ({ ...good(), cniVersion: '0.4.0' }), { CNI_COMMAND: 'STATUS' }, 1, 'config version does not allow STATUS'],
    ['missing name', () => ({ ...good(), name: undefined }), {}, 7, 'missing network name'],
    ['name with slash', () => ({ ...good(), name: 'a/b' }), {}, 7, 'invalid characters found in network name'],
    ['name dot-dot', () => ({ ...good(), name: '..' }), {}, 7, 'invalid characters found in network name'],
    ['name number', () => ({ ...good(), name: 5 }), {}, 7, 'network name must be a string'],
    ['bridge name too long', () => ({ ...good(), bridge: 'abcdefghijklmnopq' }), {}, 7, 'bridge "abcdefghijklmnopq": interface name is too long'],
    ['bridge wrong type', () => ({ ...good(), bridge: 5 }), {}, 7, 'bridge must be a string'],
    ['mtu string', () => ({ ...good(), mtu: '1500' }), {}, 7, 'mtu must be an integer'],
    ['mtu too big', () => ({ ...good(), mtu: 70000 }), {}, 7, 'mtu must be an integer'],
    ['isGateway garbage', () => ({ ...good(), isGateway: 'maybe' }), {}, 7, 'isGateway must be a boolean'],
    ['hairpin with promisc', () => ({ ...good(), hairpinMode: true, promiscMode: true }), {}, 7, 'cannot set hairpin mode and promiscuous mode'],
    ['vlan', () => ({ ...good(), vlan: 10 }), {}, 2, 'unsupported field "vlan"'],
    ['macspoofchk not a boolean', () => ({ ...good(), macspoofchk: 'maybe' }), {}, 7, 'macspoofchk must be a boolean'],
    ['unknown masquerade backend', () => ({ ...good(), ipMasqBackend: 'pf' }), {}, 7, 'ipMasqBackend must be "iptables" or "nftables"'],
    ['bad runtime MAC', () => ({ ...good(), runtimeConfig: { mac: 'nope' } }), {}, 7, 'invalid MAC address'],
    ['ipam not an object', () => ({ ...good(), ipam: 'host-local' }), {}, 7, 'ipam must be an object'],
    ['ipam plugin missing', () => ipamWith({ type: 'no-such-ipam' }), {}, 7, 'failed to find plugin "no-such-ipam"'],
    ['ipam type with slash', () => ipamWith({ type: '../bin/sh' }), {}, 7, 'invalid plugin name'],
    ['no ranges', () => ipamWith({ ranges: [] }), {}, 7, 'no IP ranges specified'],
    ['ranges not a list', () => ipamWith({ ranges: 'x' }), {}, 7, 'ipam.ranges must be a list'],
    ['bad subnet', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/33' }]] }), {}, 7, 'is not a CIDR'],
    ['host bits', () => ipamWith({ ranges: [[{ subnet: '10.0.0.1/24' }]] }), {}, 7, 'Network has host bits set'],
    ['/31', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/31' }]] }), {}, 7, 'too small to allocate from'],
    ['gateway not an IP', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/24', gateway: 'gw' }]] }), {}, 7, 'gateway "gw" is not an IP address'],
    ['rangeStart outside', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.1.0.1' }]] }), {}, 7, 'RangeStart 10.1.0.1 not in network'],
    ['overlapping sets', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]] }), {}, 7, 'overlaps'],
    ['mixed families in a set', () => ipamWith({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }), {}, 7, 'mixed address families'],
    ['bad route', () => ipamWith({ routes: [{ dst: 'default' }] }), {}, 7, 'ipam.routes[0].dst must be a CIDR'],
    ['bad requested IP', () => ({ ...good(), runtimeConfig: { ips: ['10.250.0.999'] } }), {}, 7, 'runtimeConfig.ips'],
    ['prevResult of an unknown version', () => ({ ...good(), prevResult: { cniVersion: '9.9.9' } }), { CNI_COMMAND: 'CHECK' }, 1, 'unsupported CNI result version'],
    ['prevResult of the wrong shape', () => ({ ...good(), prevResult: { ips: 'x' } }), { CNI_COMMAND: 'CHECK' }, 6, 'ips must be a list'],
    ['GC without valid-attachments', good, { CNI_COMMAND: 'GC' }, 7, 'GC without cni.dev/valid-attachments'],
    ['valid-attachments not a list', () => ({ ...good(), 'cni.dev/valid-attachments': {} }), { CNI_COMMAND: 'GC' }, 7, 'cni.dev/valid-attachments must be a list'],
    ['huge config', () => JSON.stringify({ ...good(), pad: 'x'.repeat(5 * 1024 * 1024) }), {}, 7, 'network config is larger than'],
  ];

  it.each(cases)('%s', async (_name, conf, over, code, msg) => {
    const c = conf();
    const e = env(over);
    const r = await runPlugin(bed.node, flatnet, c, { command: e.CNI_COMMAND, containerId: e.CNI_CONTAINERID, netns: e.CNI_NETNS, ifName: e.CNI_IFNAME, path: e.CNI_PATH, args: over.CNI_ARGS });
    expect(r.exitCode).not.toBe(0);
    expect(r.json?.code, r.stdout).toBe(code);
    expect(r.json.msg + (r.json.details ?? '')).toContain(msg);
    expect((await ipJson<any[]>(bed.node, ['link', 'show'])).map((l) => l.ifname)).toEqual(['lo']);
    expect(existsSync(join(bed.data.path, 'fntnet')) ? readdirSync(join(bed.data.path, 'fntnet')).filter((f) => /\d/.test(f) && !f.startsWith('last')) : []).toEqual([]);
  });
  it('has at least 50 cases', () => expect(cases.length).toBeGreaterThanOrEqual(50));
});

describe.runIf(isRoot())('dataDir on a full filesystem', () => {
  let node: Netns;
  let mnt: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    node = await createNetns('node');
    mnt = tempDir('fnt-tmpfs');
    // A test-owned tmpfs on a test-owned directory, unmounted in afterAll.
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'fnt-tmpfs', mnt.path]);
  });
  afterAll(async () => {
    await execa('umount', [mnt.path], { reject: false });
    mnt.remove();
    await deleteAllNetns();
  });

  it('ADD fails with a clear I/O error and writes nothing; after space returns everything works', async () => {
    const ipam = join(CNI_PATH.split(':')[0]!, 'flatnet-ipam');
    const conf = { cniVersion: '1.0.0', name: 'full', type: 'flatnet', ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.42.0.0/24' }]], dataDir: join(mnt.path, 'data') } };
    // The store directory and lock exist (a node that has run pods before), then the disk fills up.
    expect((await runPlugin(node, ipam, conf, { command: 'ADD', containerId: 'before', netns: '/none' })).exitCode).toBe(0);
    expect((await runPlugin(node, ipam, conf, { command: 'DEL', containerId: 'before' })).exitCode).toBe(0);
    await execa('dd', ['if=/dev/zero', `of=${join(mnt.path, 'filler')}`, 'bs=4k', 'count=1000'], { reject: false });
    const r = await runPlugin(node, ipam, conf, { command: 'ADD', containerId: 'c1', netns: '/none' });
    expect(r.exitCode).not.toBe(0);
    expect(r.json.code).toBe(5);
    expect(r.json.msg).toMatch(/ENOSPC|no space/i);
    const dir = join(mnt.path, 'data', 'full');
    expect(readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.'))).toEqual([]);
    await execa('rm', ['-f', join(mnt.path, 'filler')]);
    const ok = await runPlugin(node, ipam, conf, { command: 'ADD', containerId: 'c1', netns: '/none' });
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect((await runPlugin(node, ipam, conf, { command: 'DEL', containerId: 'c1' })).exitCode).toBe(0);
  });
});

// A runtime's timeout kills an ADD whose iptables-restore waits on the xtables
// lock (kube-proxy holds it on a busy node). Legacy iptables, as such nodes
// run, and a lock file of the test's own (XTABLES_LOCKFILE), so that the
// machine's /run/xtables.lock is never held.
describe.runIf(isRoot())('ADD killed while iptables-restore waits on the xtables lock, then DEL', () => {
  const bed = useBed('fnt-xlock');
  const legacyPath = (): string => {
    const dir = join(bed.data.path, 'legacy-bin');
    mkdirSync(dir, { recursive: true });
    for (const tool of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
      const link = join(dir, tool);
      if (!existsSync(link)) symlinkSync(`/usr/sbin/${tool.replace(/^(ip6?tables)/, '$1-legacy')}`, link);
    }
    return `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`;
  };
  const natRules = async (): Promise<string[]> => (await inNs(bed.node, ['iptables-legacy-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('CNI-'));

  it('no chain or jump appears after the DEL answered success', async () => {
    const lock = join(bed.data.path, 'xtables.lock');
    const extraEnv = { PATH: legacyPath(), XTABLES_LOCKFILE: lock };
    const conf = bridgeConf({ dataDir: bed.data.path, extra: { ipMasq: true } });
    writeFileSync(lock, '');
    // -o: the lock is held by flock itself, so killing it releases the lock.
    const holder = spawn('flock', ['-o', lock, 'sleep', '60'], { stdio: 'ignore' });
    try {
      // Held once `flock -n` cannot take it.
      for (let i = 0; i < 100 && (await execa('flock', ['-n', lock, 'true'], { reject: false })).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const env = { PATH: extraEnv.PATH, XTABLES_LOCKFILE: lock, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'xlock', CNI_NETNS: bed.pod.path, CNI_IFNAME: 'eth0', CNI_PATH };
      const add = spawn('ip', ['netns', 'exec', bed.node.name, flatnet], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      add.stdin.end(JSON.stringify(conf));
      await new Promise((r) => setTimeout(r, 300));
      add.kill('SIGKILL');
      await new Promise((r) => add.once('exit', r));
      // The DEL runs while the lock is still held; the lock is released a second later.
      let delDone = 0;
      const del = runPlugin(bed.node, flatnet, conf, { command: 'DEL', containerId: 'xlock', netns: bed.pod.path, extraEnv }).then((r) => ((delDone = Date.now()), r));
      await new Promise((r) => setTimeout(r, 1000));
      const released = Date.now();
      holder.kill('SIGKILL');
      const d = await del;
      // It waited for the lock: a commit of the killed ADD would have been done and seen.
      if (d.exitCode === 0) expect(delDone).toBeGreaterThanOrEqual(released);
      await new Promise((r) => setTimeout(r, 2000));
      const left = await natRules();
      expect({ delExit: d.exitCode, left: d.exitCode === 0 ? left : [] }).toEqual({ delExit: d.exitCode, left: [] });
      // A DEL that failed is retried by the runtime; the retry cleans up.
      if (d.exitCode !== 0) {
        expect((await runPlugin(bed.node, flatnet, conf, { command: 'DEL', containerId: 'xlock', netns: bed.pod.path, extraEnv })).exitCode).toBe(0);
        expect(await natRules()).toEqual([]);
      }
    } finally {
      holder.kill('SIGKILL');
      await runPlugin(bed.node, flatnet, conf, { command: 'DEL', containerId: 'xlock', netns: bed.pod.path, extraEnv });
    }
  }, 60_000);
});
