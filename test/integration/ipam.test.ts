// flatnet-ipam as a binary: the exact bytes of its store, interop with Go
// host-local on one dataDir, and concurrency across processes.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { flatnetIpam, GO_DIR, runPlugin, tempDir } from '../helpers/plugin.ts';

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
