// flatnet-ipam as a binary: the exact bytes of its store, interop with Go
// host-local on one dataDir, and concurrency across processes.
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { flatnet, flatnetIpam, GO_DIR, runPlugin, tempDir } from '../helpers/plugin.ts';

const hostLocal = join(GO_DIR, 'host-local');
// Debian's host-local (libcni 1.1) prints "dns": {} always; newer libcni and we omit it.
const noEmptyDns = (r: any) => {
  const { dns, ...rest } = r;
  return dns && Object.keys(dns).length ? r : rest;
};

describe.runIf(isRoot())('flatnet-ipam binary', () => {
  let node: Netns;
  let data: ReturnType<typeof tempDir>;
  // IPAM never enters the netns; the node namespace only keeps the run realistic.
  beforeAll(async () => {
    node = await createNetns('node');
  });
  afterAll(deleteAllNetns);
  beforeEach(() => {
    data = tempDir('fnt-ipam');
  });
  afterEach(() => data.remove());

  const conf = (subnet = '10.40.0.0/24', version = '1.0.0', type = 'flatnet-ipam') => ({
    cniVersion: version,
    name: 'ipamnet',
    type: 'bridge',
    ipam: { type, ranges: [[{ subnet }]], dataDir: data.path },
  });
  const dir = () => join(data.path, 'ipamnet');
  const leases = () => (existsSync(dir()) ? readdirSync(dir()).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : []);
  const add = (bin: string, id: string, c: object = conf(), extra = {}) => runPlugin(node, bin, c, { command: 'ADD', containerId: id, netns: '/nonexistent', ...extra });
  const del = (bin: string, id: string, c: object = conf()) => runPlugin(node, bin, c, { command: 'DEL', containerId: id });

  // Reliability issue, defect 1: a repeated ADD freed the live lease, so two pods got one IP.
  it('a repeated ADD fails with 102 and keeps the first lease; the next pod gets another address (Go host-local alike)', async () => {
    for (const bin of [flatnetIpam, hostLocal]) {
      // One address in the range: a second pod can only get it if the first lost it.
      const base = conf('10.40.0.0/29', '1.0.0', bin === hostLocal ? 'host-local' : 'flatnet-ipam');
      const c = { ...base, ipam: { ...base.ipam, ranges: [[{ subnet: '10.40.0.0/29', rangeStart: '10.40.0.2', rangeEnd: '10.40.0.2' }]] } };
      expect((await add(bin, 'podA', c)).exitCode).toBe(0);
      const again = await add(bin, 'podA', c);
      expect(again.exitCode).toBe(1);
      if (bin === flatnetIpam) expect(again.json).toMatchObject({ code: 102 });
      expect(leases(), bin).toEqual(['10.40.0.2']);
      expect(readFileSync(join(dir(), '10.40.0.2'), 'utf8')).toBe('podA\r\neth0');
      const b = await add(bin, 'podB', c);
      expect(b.exitCode, `${bin}: podB must not get podA's address`).toBe(1);
      await del(bin, 'podA', c);
      expect(leases()).toEqual([]);
    }
  });

  it('writes the store byte for byte as Go host-local does', async () => {
    const r = await add(flatnetIpam, 'ctr-1');
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.40.0.2/24', gateway: '10.40.0.1' }] });
    expect(readFileSync(join(dir(), '10.40.0.2'), 'latin1')).toBe('ctr-1\r\neth0');
    expect(readFileSync(join(dir(), 'last_reserved_ip.0'), 'latin1')).toBe('10.40.0.2');
    expect(statSync(join(dir(), '10.40.0.2')).mode & 0o777).toBe(0o644 & ~process.umask());
    expect(existsSync(join(dir(), 'lock'))).toBe(true);
    expect(readdirSync(dir()).sort()).toEqual(['10.40.0.2', 'last_reserved_ip.0', 'lock']);
  });

  it('matches Go host-local output for the same sequence of calls', async () => {
    const goData = tempDir('fnt-go');
    try {
      const goConf = { ...conf(), ipam: { ...conf().ipam, type: 'host-local', dataDir: goData.path } };
      for (const id of ['a', 'b', 'c']) {
        const ours = await add(flatnetIpam, id);
        const theirs = await add(hostLocal, id, goConf);
        expect(ours.json).toEqual(noEmptyDns(theirs.json));
      }
      await del(flatnetIpam, 'b');
      await del(hostLocal, 'b', goConf);
      const ours = await add(flatnetIpam, 'd');
      const theirs = await add(hostLocal, 'd', goConf);
      expect(ours.json).toEqual(noEmptyDns(theirs.json)); // round-robin: .5, not the freed .3
      expect(ours.json.ips[0].address).toBe('10.40.0.5/24');
      for (const f of readdirSync(join(goData.path, 'ipamnet'))) {
        expect(readFileSync(join(dir(), f), 'latin1'), f).toBe(readFileSync(join(goData.path, 'ipamnet', f), 'latin1'));
      }
    } finally {
      goData.remove();
    }
  });

  it('shares one dataDir with Go host-local both ways', async () => {
    const goConf = conf('10.40.0.0/24', '1.0.0', 'host-local');
    expect((await add(hostLocal, 'go-1', goConf)).json.ips[0].address).toBe('10.40.0.2/24');
    expect((await add(flatnetIpam, 'fn-1')).json.ips[0].address).toBe('10.40.0.3/24');
    expect((await add(hostLocal, 'go-2', goConf)).json.ips[0].address).toBe('10.40.0.4/24');
    // Each releases and checks the other's leases.
    expect((await runPlugin(node, flatnetIpam, conf(), { command: 'CHECK', containerId: 'go-1', netns: '/nonexistent' })).exitCode).toBe(0);
    expect((await del(flatnetIpam, 'go-1')).exitCode).toBe(0);
    expect((await del(hostLocal, 'fn-1', goConf)).exitCode).toBe(0);
    expect(leases()).toEqual(['10.40.0.4']);
    // Duplicate detection sees the other's record.
    expect((await add(flatnetIpam, 'go-2')).json).toMatchObject({ code: 102 });
  });

  it('gives 110 concurrent ADDs 110 distinct addresses, then 110 DELs empty the store', async () => {
    const ids = Array.from({ length: 110 }, (_, i) => `pod-${i}`);
    const adds = await Promise.all(ids.map((id) => add(flatnetIpam, id)));
    expect(adds.filter((r) => r.exitCode !== 0).map((r) => r.stdout)).toEqual([]);
    const addrs = adds.map((r) => r.json.ips[0].address);
    expect(new Set(addrs).size).toBe(110);
    expect(leases()).toHaveLength(110);
    const dels = await Promise.all(ids.map((id) => del(flatnetIpam, id)));
    expect(dels.every((r) => r.exitCode === 0)).toBe(true);
    expect(leases()).toEqual([]);
    expect(readdirSync(dir()).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('on a /28, the overflow of 20 concurrent ADDs gets "no addresses available" and nothing leaks', async () => {
    const c = conf('10.40.0.0/28');
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => add(flatnetIpam, `p${i}`, c)));
    const ok = rs.filter((r) => r.exitCode === 0);
    const failed = rs.filter((r) => r.exitCode !== 0);
    expect(ok).toHaveLength(13);
    expect(new Set(ok.map((r) => r.json.ips[0].address)).size).toBe(13);
    for (const f of failed) expect(f.json).toMatchObject({ code: 100, msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.40.0.1-10.40.0.14' });
    expect(leases()).toHaveLength(13);
  });

  it('allocates one address per family for dual-stack and honours requested IPs', async () => {
    const c = { ...conf(), ipam: { ...conf().ipam, ranges: [[{ subnet: '10.40.0.0/24' }], [{ subnet: 'fd00:40::/64' }]] } };
    const r = await add(flatnetIpam, 'ds', c, { args: 'IgnoreUnknown=1;IP=10.40.0.77;K8S_POD_NAME=x' });
    expect(r.json.ips).toEqual([
      { address: '10.40.0.77/24', gateway: '10.40.0.1' },
      { address: 'fd00:40::2/64', gateway: 'fd00:40::1' },
    ]);
    expect(leases().sort()).toEqual(['10.40.0.77', 'fd00:40::2']);
    const bad = await add(flatnetIpam, 'x', c, { args: 'IP=10.99.0.1' });
    expect(bad.json).toMatchObject({ code: 101, msg: 'failed to allocate all requested IPs: 10.99.0.1' });
    expect(leases()).toHaveLength(2);
  });

  it('GC releases what is not in cni.dev/valid-attachments; STATUS says 50 only when exhausted', async () => {
    const c = conf('10.40.0.0/30', '1.1.0');
    await add(flatnetIpam, 'keep', c);
    expect((await runPlugin(node, flatnetIpam, c, { command: 'STATUS' })).json).toMatchObject({ code: 50 });
    const gc = await runPlugin(node, flatnetIpam, { ...c, 'cni.dev/valid-attachments': [] }, { command: 'GC' });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(leases()).toEqual([]);
    expect((await runPlugin(node, flatnetIpam, c, { command: 'STATUS' })).exitCode).toBe(0);
    await add(flatnetIpam, 'keep', conf('10.40.0.0/24', '1.1.0'));
    await add(flatnetIpam, 'drop', conf('10.40.0.0/24', '1.1.0'));
    await runPlugin(node, flatnetIpam, { ...conf('10.40.0.0/24', '1.1.0'), 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }, { command: 'GC' });
    expect(leases()).toHaveLength(1);
  });

  /** `flatnet ipam …` over a conflist holding `c`; with noDac, as a root without CAP_DAC_OVERRIDE (file modes then bind it). */
  const ipamCli = (c: { ipam: object }, o: { noDac?: boolean } = {}) => {
    const conflist = join(data.path, 'ipamnet.conflist');
    writeFileSync(conflist, JSON.stringify({ cniVersion: '1.1.0', name: 'ipamnet', plugins: [{ type: 'bridge', ipam: c.ipam }] }));
    const drop = o.noDac ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] : [];
    return (...args: string[]) => execa(drop[0] ?? flatnet, [...drop.slice(1), ...(drop.length ? [flatnet] : []), 'ipam', ...args, '--conflist', conflist], { reject: false, env: { CNI_COMMAND: '' } });
  };

  it('without CAP_DAC_OVERRIDE, ipam ls and gc name a mode-000 record, and a mode-000 store directory is blamed on its mode, not on missing root', async () => {
    const c = conf('10.40.0.0/24', '1.1.0');
    const cli = ipamCli(c, { noDac: true });
    expect((await add(flatnetIpam, 'a', c)).exitCode).toBe(0);
    expect((await add(flatnetIpam, 'b', c)).exitCode).toBe(0);
    chmodSync(join(dir(), '10.40.0.3'), 0);
    const ls = await cli('ls', '--json');
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([
      { ip: '10.40.0.2', containerId: 'a', ifName: 'eth0' },
      { ip: '10.40.0.3', containerId: '', ifName: '', record: 'unreadable record (EACCES)' },
    ]);
    const gc = await cli('gc', '--all');
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stdout).toContain('released 1 allocation(s)');
    expect(gc.stderr).toContain(`kept 10.40.0.3: unreadable record (EACCES), so whose it is is unknown; check the permissions of ${join(dir(), '10.40.0.3')}`);
    expect(leases()).toEqual(['10.40.0.3']);
    chmodSync(dir(), 0);
    try {
      const denied = await cli('ls');
      expect(denied.exitCode).toBe(1);
      expect(denied.stderr).toContain(`the directory ${dir()} is mode 000`);
      expect(denied.stderr).not.toContain('CAP_NET_ADMIN');
    } finally {
      chmodSync(dir(), 0o755);
    }
  });

  // Found from outside: such records blocked their addresses for ever, unseen by ls and left by every GC.
  it('empty, blank and oversized records (a crashed Go host-local leaves the first) are listed by ipam ls and released by CNI GC and ipam gc, on a store shared with Go host-local', async () => {
    const c = conf('10.40.0.0/29', '1.1.0');
    const goConf = conf('10.40.0.0/29', '1.0.0', 'host-local');
    const cli = ipamCli(c);
    // .2 to .6: Go takes one, flatnet one, and three are left as a crash leaves them.
    expect((await add(hostLocal, 'go-1', goConf)).json.ips[0].address).toBe('10.40.0.2/29');
    expect((await add(flatnetIpam, 'fn-1', c)).json.ips[0].address).toBe('10.40.0.3/29');
    writeFileSync(join(dir(), '10.40.0.4'), '', { mode: 0o600 });
    writeFileSync(join(dir(), '10.40.0.5'), ' \r\n\t ', { mode: 0o600 });
    writeFileSync(join(dir(), '10.40.0.6'), 'x'.repeat(70 * 1024), { mode: 0o600 });
    expect((await add(flatnetIpam, 'fn-2', c)).json).toMatchObject({ code: 100 });
    expect((await add(hostLocal, 'go-2', goConf)).exitCode).not.toBe(0);
    expect((await runPlugin(node, flatnetIpam, c, { command: 'STATUS' })).json).toMatchObject({ code: 50 });
    const ls = await cli('ls', '--json');
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([
      { ip: '10.40.0.2', containerId: 'go-1', ifName: 'eth0' },
      { ip: '10.40.0.3', containerId: 'fn-1', ifName: 'eth0' },
      { ip: '10.40.0.4', containerId: '', ifName: '', record: 'empty record' },
      { ip: '10.40.0.5', containerId: '', ifName: '', record: 'empty record' },
      { ip: '10.40.0.6', containerId: '', ifName: '', record: 'record larger than 64 KiB' },
    ]);
    expect((await cli('ls')).stdout).toMatch(/10\.40\.0\.4 +\(empty record\)/);
    const valid = [{ containerID: 'go-1', ifname: 'eth0' }, { containerID: 'fn-1', ifname: 'eth0' }];
    const gc = await runPlugin(node, flatnetIpam, { ...c, 'cni.dev/valid-attachments': valid }, { command: 'GC' });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(leases().sort()).toEqual(['10.40.0.2', '10.40.0.3']);
    // Both plugins allocate again.
    expect((await add(hostLocal, 'go-2', goConf)).exitCode).toBe(0);
    expect((await add(flatnetIpam, 'fn-2', c)).exitCode).toBe(0);
    const free = ['10.40.0.4', '10.40.0.5', '10.40.0.6'].find((ip) => !leases().includes(ip))!;
    writeFileSync(join(dir(), free), '', { mode: 0o600 });
    const dry = await cli('gc', '--dry-run', '--keep', 'go-1', '--keep', 'fn-1', '--keep', 'go-2', '--keep', 'fn-2');
    expect(dry.stdout).toContain(`would release ${free} (empty record)`);
    const cliGc = await cli('gc', '--keep', 'go-1', '--keep', 'fn-1', '--keep', 'go-2', '--keep', 'fn-2');
    expect(cliGc.exitCode, cliGc.stderr).toBe(0);
    expect(cliGc.stdout).toContain(`released ${free} (empty record)\nreleased 1 allocation(s)`);
    expect(leases()).toHaveLength(4);
    for (const [bin, id, cc] of [[hostLocal, 'go-1', goConf], [hostLocal, 'go-2', goConf], [flatnetIpam, 'fn-1', c], [flatnetIpam, 'fn-2', c]] as const) expect((await del(bin, id, cc)).exitCode).toBe(0);
    expect(leases()).toEqual([]);
  });

  it('CHECK reads the store under its lock (as Go FindByID): it waits while another process holds it', async () => {
    expect((await add(flatnetIpam, 'held')).exitCode).toBe(0);
    // Another writer (an ADD or DEL of any plugin sharing the store) holds the lock for 2 s.
    const holder = execa('flock', [join(dir(), 'lock'), 'sleep', '2'], { reject: false });
    // Until it has the lock: flock -n fails while someone holds it.
    for (let i = 0; i < 100 && (await execa('flock', ['-n', join(dir(), 'lock'), 'true'], { reject: false })).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    const chk = await runPlugin(node, flatnetIpam, conf(), { command: 'CHECK', containerId: 'held', netns: '/nonexistent', timeoutMs: 20_000 });
    const waited = Date.now() - t0;
    await holder;
    expect(chk.exitCode, chk.stdout).toBe(0);
    expect(waited).toBeGreaterThan(1200);
  });

  it('CHECK fails and says so when the allocation is missing; DEL is idempotent', async () => {
    const chk = await runPlugin(node, flatnetIpam, conf(), { command: 'CHECK', containerId: 'nope', netns: '/nonexistent' });
    expect(chk.json.msg).toBe('flatnet-ipam: Failed to find address added by container nope');
    expect((await del(flatnetIpam, 'nope')).exitCode).toBe(0);
    expect((await del(flatnetIpam, 'nope')).exitCode).toBe(0);
  });

  it('ignores foreign and corrupt files in the store and never hands out their addresses', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir(), { recursive: true });
    writeFileSync(join(dir(), '10.40.0.2'), '');
    mkdirSync(join(dir(), '10.40.0.3'));
    writeFileSync(join(dir(), '10.40.0.4'), '\x00\xffgarbage');
    writeFileSync(join(dir(), 'README'), 'hello');
    const r = await add(flatnetIpam, 'x');
    expect(r.json.ips[0].address).toBe('10.40.0.5/24');
    expect((await del(flatnetIpam, 'x')).exitCode).toBe(0);
  });
});
