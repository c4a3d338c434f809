// The agent's conflist under a real containerd (Debian's 1.6, through its
// CRI, as kubelet reads it): containerd watches its CNI conf dir with
// fsnotify. The dir sees only the finished file appear, containerd turns
// NetworkReady on the agent's first write and loads a changed conflist, and it
// never logs a failed reload (on a real cluster it did, for the agent's temp
// file, on every node at start).
import { type FSWatcher, mkdirSync, readFileSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPauseImage, CriNode } from '../helpers/cri-node.ts';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { BIN_DIR, GO_DIR, tempDir } from '../helpers/plugin.ts';
import { STAGING_DIR } from '../../src/sys/publish-file.ts';
// @ts-expect-error: plain JS module shared with the demo
import { nodeObject } from '../../scripts/cluster.mjs';

const ready = isRoot() && existsSync('/usr/bin/containerd') && existsSync('/usr/sbin/runc') && existsSync('/usr/bin/busybox');
const FILE = '10-flatnet.conflist';

describe.runIf(ready)("the agent's conflist in containerd's watched conf dir", () => {
  let node: Netns;
  let dir: ReturnType<typeof tempDir>;
  let cri: CriNode | undefined;
  let watcher: FSWatcher | undefined;
  const d = (...p: string[]) => join(dir.path, ...p);

  beforeAll(async () => {
    node = await createNetns('ctdw');
    dir = tempDir('fnt-ctdw');
    for (const sub of ['root', 'net.d', 'bin', 'ipam', 'img']) mkdirSync(d(sub));
    for (const [src, name] of [[join(BIN_DIR, 'flatnet'), 'flatnet'], [join(BIN_DIR, 'flatnet-ipam'), 'flatnet-ipam'], [join(GO_DIR, 'portmap'), 'portmap'], [join(GO_DIR, 'loopback'), 'loopback']] as const) symlinkSync(src, d('bin', name));
    writeFileSync(d('nodes.json'), JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', items: [nodeObject({ name: 'n1', podCIDRs: ['10.244.1.0/24'], ips: ['10.200.0.11'] })] }));
    cri = await CriNode.start({ netns: node.path, root: d('root'), binDir: d('bin'), confDir: d('net.d'), pauseImage: await buildPauseImage(d('img')) });
  }, 120_000);
  afterAll(async () => {
    watcher?.close();
    await cri?.stop();
    await deleteAllNetns();
    dir?.remove();
  }, 60_000);

  const agentOnce = (...args: string[]) =>
    execa('ip', ['netns', 'exec', node.name, join(BIN_DIR, 'flatnet'), 'agent', '--once', '--node-name', 'n1', '--nodes-file', d('nodes.json'), '--cluster-cidr', '10.244.0.0/16', '--conf-dir', d('net.d'), '--ipam-data-dir', d('ipam'), '--status-file', d('agent.json'), ...args]);
  /** The CNI config containerd has loaded, as its CRI Status (verbose) reports it. */
  const loaded = async (): Promise<string> => (await cri!.call('Status', { verbose: true })).info.cniconfig ?? '';
  const until = async (what: string, fn: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) {
      if (await fn()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  it('containerd turns NetworkReady on the first conflist and loads a changed one; the dir sees no other file, containerd logs no failed reload', async () => {
    expect((await cri!.networkReady()).status).toBe(false);
    const seen = new Set<string>();
    watcher = watch(d('net.d'), (_event, name) => seen.add(String(name)));
    await agentOnce();
    await until('NetworkReady', async () => (await cri!.networkReady()).status);
    expect(await loaded()).not.toContain('mtu');
    await agentOnce('--mtu', '1400');
    await until('the changed conflist loaded', async () => (await loaded()).includes('\\"mtu\\": 1400'));
    await new Promise((r) => setTimeout(r, 300));
    expect([...seen].sort()).toEqual([STAGING_DIR, FILE].sort());
    const log = readFileSync(cri!.log, 'utf8');
    expect(log).not.toContain('failed to reload cni configuration');
  });
});
