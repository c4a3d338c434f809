// The flatnet command line: manual add/check/del through a conflist (as
// cnitool does), ipam ls/gc, version, and shell-friendly exit codes.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, inNs, isRoot, type Netns } from '../helpers/netns.ts';
import { bridgeConf, CNI_PATH, flatnet, tempDir } from '../helpers/plugin.ts';

describe.runIf(isRoot())('flatnet CLI', () => {
  let node: Netns;
  let pod: Netns;
  let dir: ReturnType<typeof tempDir>;
  let confDir: string;
  beforeAll(async () => {
    node = await createNetns('node');
    pod = await createNetns('pod');
    dir = tempDir('fnt-cli');
    confDir = join(dir.path, 'net.d');
    mkdirSync(confDir);
    // No default route: a second interface in one pod would add a second one.
    const { cniVersion, name, ...plugin } = bridgeConf({ dataDir: join(dir.path, 'ipam'), ipamExtra: { routes: [] } });
    writeFileSync(join(confDir, '10-flatnet.conflist'), JSON.stringify({ cniVersion, name, plugins: [plugin, { type: 'portmap', capabilities: { portMappings: true } }] }));
  });
  afterAll(async () => {
    await deleteAllNetns();
    dir.remove();
  });
  const cli = (...args: string[]) => execa('ip', ['netns', 'exec', node.name, flatnet, ...args], { reject: false, env: { CNI_COMMAND: '' } });
  const common = () => ['--netns', pod.path, '--id', 'cli-1', '--conf-dir', confDir, '--cni-path', CNI_PATH, '--cache-dir', join(dir.path, 'cache')];

  it('add, check, ipam ls, del', async () => {
    const add = await cli('add', ...common());
    expect(add.exitCode, add.stderr).toBe(0);
    const result = JSON.parse(add.stdout);
    expect(result.ips[0].address).toBe('10.250.0.2/24');
    expect((await inNs(pod, ['ping', '-c', '1', '-W', '2', '10.250.0.1'])).exitCode).toBe(0);
    expect((await cli('check', ...common())).exitCode).toBe(0);
    const ls = await cli('ipam', 'ls', '--conflist', join(confDir, '10-flatnet.conflist'), '--json');
    expect(JSON.parse(ls.stdout)).toEqual([{ ip: '10.250.0.2', containerId: 'cli-1', ifName: 'eth0' }]);
    const del = await cli('del', ...common());
    expect(del.exitCode, del.stderr).toBe(0);
    expect(JSON.parse((await cli('ipam', 'ls', '--conflist', join(confDir, '10-flatnet.conflist'), '--json')).stdout)).toEqual([]);
  });

  it('ipam gc releases what is not kept, and refuses to guess', async () => {
    // Two attachments in one pod: eth0 and eth1.
    const as = (id: string, ifname: string) => [...common().map((x) => (x === 'cli-1' ? id : x)), '--ifname', ifname];
    expect((await cli('add', ...as('keep-me', 'eth0'))).exitCode).toBe(0);
    expect((await cli('add', ...as('drop-me', 'eth1'))).exitCode).toBe(0);
    const conf = join(confDir, '10-flatnet.conflist');
    expect((await cli('ipam', 'gc', '--conflist', conf)).exitCode).toBe(2);
    const gc = await cli('ipam', 'gc', '--conflist', conf, '--keep', 'keep-me/eth0');
    expect(gc.stdout).toContain('released 1 allocation(s)');
    const left = JSON.parse((await cli('ipam', 'ls', '--conflist', conf, '--json')).stdout);
    expect(left.map((r: any) => r.containerId)).toEqual(['keep-me']);
    await cli('del', ...as('keep-me', 'eth0'));
    await cli('del', ...as('drop-me', 'eth1'));
  });

  // Found from outside after the reliability fixes: a mistyped --keep kept
  // nothing, so gc released the live pod's lease (and the next ADD reused it).
  it('ipam gc releases nothing when a --keep names no allocation (a typo), unless --force', async () => {
    const conf = join(confDir, '10-flatnet.conflist');
    const as = (id: string, ifname: string) => [...common().map((x) => (x === 'cli-1' ? id : x)), '--ifname', ifname];
    const pods = [['gc-a', 'eth0'], ['gc-b', 'eth1']] as const;
    for (const [id, ifname] of pods) expect((await cli('add', ...as(id, ifname))).exitCode).toBe(0);
    const leases = async () => JSON.parse((await cli('ipam', 'ls', '--conflist', conf, '--json')).stdout).map((r: any) => r.containerId).sort();
    for (const keep of [['GC-A', 'gc-b/eth1'], ['gc-a/eth1', 'gc-b/eth1'], ['zzz', 'gc-a', 'gc-b/eth1'], ['gc-a,gc-b'], ['gc-a gc-b'], ['gc-a/'], ['gc-a/eth0/x']]) {
      const r = await cli('ipam', 'gc', '--conflist', conf, ...keep.flatMap((k) => ['--keep', k]));
      expect(r.exitCode, `--keep ${keep.join(' ')}: ${r.stderr}`).not.toBe(0);
      expect(r.stdout).not.toContain('released');
      expect(await leases()).toEqual(['gc-a', 'gc-b']);
    }
    const dry = await cli('ipam', 'gc', '--conflist', conf, '--keep', 'gc-a', '--dry-run');
    expect(dry.stdout).toContain('would release 1 allocation(s)');
    expect(await leases()).toEqual(['gc-a', 'gc-b']);
    // A live attachment without a lease (given on purpose) needs --force.
    const forced = await cli('ipam', 'gc', '--conflist', conf, '--keep', 'gc-a', '--keep', 'no-lease', '--force');
    expect(forced.stdout).toContain('released 1 allocation(s)');
    expect(await leases()).toEqual(['gc-a']);
    for (const [id, ifname] of pods) await cli('del', ...as(id, ifname));
  });

  // Found from outside: ipam gc released leases but left their masquerade, which the next pod given the address inherited.
  for (const backend of ['iptables', 'nftables'] as const) {
    it(`ipam gc removes the ${backend} masquerade of the leases it releases, and only theirs`, async () => {
      const masqDir = join(dir.path, `net-${backend}`);
      mkdirSync(masqDir);
      const name = `masq-${backend}`;
      const { cniVersion, ...plugin } = bridgeConf({ name, dataDir: join(dir.path, 'ipam'), subnet: backend === 'iptables' ? '10.251.0.0/24' : '10.252.0.0/24', ipamExtra: { routes: [] }, extra: { bridge: `fngc${backend[0]}`, ipMasqBackend: backend } });
      writeFileSync(join(masqDir, '10-masq.conflist'), JSON.stringify({ cniVersion, name, plugins: [plugin] }));
      const as = (id: string, ifname: string) => ['--netns', pod.path, '--id', id, '--ifname', ifname, '--conf-dir', masqDir, '--cni-path', CNI_PATH, '--cache-dir', join(dir.path, `cache-${backend}`)];
      const rules = async () => (backend === 'iptables' ? (await inNs(node, ['iptables-save', '-t', 'nat'])).stdout : (await inNs(node, ['nft', 'list', 'ruleset'])).stdout);
      const mentions = async (id: string) => (await rules()).split('\n').filter((l) => (backend === 'iptables' ? l.includes(`id: \\"${id}\\"`) : l.includes(`id: ${id}"`))).length;
      // keep has two interfaces; its second one and all of drop are released.
      // Interface names of their own per backend: a failure of one test leaves nothing in the other's way.
      const [m0, m1, m2] = [`${backend[0]}m0`, `${backend[0]}m1`, `${backend[0]}m2`];
      for (const [id, ifname] of [['keep', m0], ['keep', m1], ['drop', m2]] as const) {
        const r = await cli('add', ...as(id, ifname));
        expect(r.exitCode, r.stderr).toBe(0);
      }
      const before = { keep: await mentions('keep'), drop: await mentions('drop') };
      expect(before.drop).toBeGreaterThan(0);
      const gc = await cli('ipam', 'gc', '--conf-dir', masqDir, '--keep', `keep/${m0}`);
      expect(gc.exitCode, gc.stderr).toBe(0);
      expect(gc.stdout).toContain('released 2 allocation(s)');
      expect(await mentions('drop')).toBe(0);
      // keep/m0 still masquerades: its rules are all there but the released m1's jump (iptables) or rules (nftables).
      expect(await mentions('keep')).toBe(backend === 'iptables' ? before.keep - 1 : before.keep / 2);
      expect(await mentions('keep')).toBeGreaterThan(0);
      for (const [id, ifname] of [['keep', m0], ['keep', m1], ['drop', m2]] as const) await cli('del', ...as(id, ifname));
      expect(await mentions('keep')).toBe(0);
    });
  }

  it('reports errors on stderr with exit 1, usage errors with exit 2', async () => {
    const bad = await cli('add', '--netns', '/nonexistent', '--id', 'x', '--conf-dir', confDir, '--cni-path', CNI_PATH, '--cache-dir', join(dir.path, 'cache'));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('flatnet add: flatnet: failed to open netns "/nonexistent"');
    expect((await cli('frobnicate')).exitCode).toBe(2);
    const v = await cli('version');
    expect(v.stdout).toMatch(/^flatnet \d+\.\d+\.\d+ \(CNI 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\)/);
  });

  // Reliability issue, defect 6: the CLI acted after a usage error.
  it('does nothing after a usage error: exit 2, every lease and interface still there', async () => {
    const conf = join(confDir, '10-flatnet.conflist');
    expect((await cli('add', ...common())).exitCode).toBe(0);
    const before = JSON.parse((await cli('ipam', 'ls', '--conflist', conf, '--json')).stdout);
    expect(before).toHaveLength(1);
    const usage: string[][] = [
      ['ipam', 'list', '--all', '--conflist', conf], // was: "Invalid values", then every lease released
      ['ipam', 'gc', '--conflist', conf, '--keep'], // a flag without its value
      ['ipam', 'gc', '--conflist', conf, '--all', '--keep', 'x'],
      ['add', '--netns', pod.path, '--conf-dir', confDir], // was: "Missing required argument", then an ADD on the first conflist
      ['del', '--netns', pod.path, '--id', 'cli-1', '--conf-dir', confDir, '--bogus'],
      ['status', '--jsn'], // was: ran
      ['agent', '--nodes-file'], // was: silently switched to API mode
      ['agent', '--nodes-file', '/x', '--cluster-cidr', '10.244.0.0/16', '--resync', 'abc'], // was: accepted, and spun
      ['agent', '--nodes-file', '/x'], // no --cluster-cidr: peer routes would have no bound
      ['frobnicate'],
    ];
    for (const argv of usage) {
      const r = await cli(...argv);
      expect(r.exitCode, `flatnet ${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout, argv.join(' ')).toBe('');
      expect(r.stderr).toMatch(/flatnet --help/);
    }
    expect(JSON.parse((await cli('ipam', 'ls', '--conflist', conf, '--json')).stdout)).toEqual(before);
    expect((await inNs(pod, ['ip', 'link', 'show', 'eth0'])).exitCode).toBe(0);
    expect((await cli('del', ...common())).exitCode).toBe(0);
  });

  it('a second flatnet add of the same attachment is refused and leaves the first alone', async () => {
    expect((await cli('add', ...common())).exitCode).toBe(0);
    const again = await cli('add', ...common());
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('cli-1/eth0 is already attached');
    expect((await inNs(pod, ['ping', '-c', '1', '-W', '2', '10.250.0.1'])).exitCode).toBe(0);
    expect((await cli('del', ...common())).exitCode).toBe(0);
  });

  it('a runtime failure is one line with a hint, no help text or stack', async () => {
    const r = await cli('ipam', 'ls', '--conflist', join(dir.path, 'missing.conflist'));
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^flatnet ipam: cannot read .*missing\.conflist/);
  });

  // In the DaemonSet, without the host's pid namespace, every host pid looks
  // dead: a temp record's liveness is its writer's lock, never its pid.
  it('ipam gc from another pid namespace keeps a live writer\'s temp record and sweeps an abandoned one', async () => {
    const conf = join(confDir, '10-flatnet.conflist');
    const store = join(dir.path, 'ipam', 'fntnet');
    mkdirSync(store, { recursive: true });
    // Named with a pid that lives on the host (this test's), and a minute old.
    const live = join(store, `.flatnet-tmp.${process.pid}.live`);
    const abandoned = join(store, `.flatnet-tmp.${process.pid}.abandoned`);
    const minuteAgo = new Date(Date.now() - 60_000);
    for (const f of [live, abandoned]) {
      writeFileSync(f, 'writer\r\neth0');
      utimesSync(f, minuteAgo, minuteAgo);
    }
    // The live writer's lock; -o: held by flock itself, released when it is killed.
    const writer = spawn('flock', ['-o', live, 'sleep', '60'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && (await execa('flock', ['-n', live, 'true'], { reject: false })).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const gc = await execa('ip', ['netns', 'exec', node.name, 'unshare', '-p', '-f', '--mount-proc', flatnet, 'ipam', 'gc', '--conflist', conf, '--all'], { reject: false, env: { CNI_COMMAND: '' } });
      expect(gc.exitCode, gc.stderr).toBe(0);
      expect({ live: existsSync(live), abandoned: existsSync(abandoned) }).toEqual({ live: true, abandoned: false });
    } finally {
      writer.kill('SIGKILL');
      rmSync(live, { force: true });
      rmSync(abandoned, { force: true });
    }
  });

  it('says how to get the CLI when flatnet-cli is neither beside flatnet nor on PATH', async () => {
    const lone = join(dir.path, 'lone');
    mkdirSync(lone);
    copyFileSync(flatnet, join(lone, 'flatnet'));
    const r = await execa(join(lone, 'flatnet'), ['status'], { reject: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('cannot run flatnet-cli (ENOENT)');
    // The CNI side needs no CLI.
    const ver = await execa(join(lone, 'flatnet'), { reject: false, env: { CNI_COMMAND: 'VERSION' }, extendEnv: false });
    expect(JSON.parse(ver.stdout).cniVersion).toBe('1.1.0');
  });
});
