// containerd (Debian's 1.6) through its CRI, as kubelet drives it, pointed at
// flatnet's conflist and binaries with no change to containerd: pod sandboxes
// get their addresses from flatnet and reach each other. containerd runs in a
// test-owned node namespace with its own root, state and socket in a temp dir.
// No registry is reachable, so the sandbox image is a busybox OCI image built
// here and imported with ctr; Debian has no crictl, so the test speaks CRI
// gRPC itself (test/fixtures/cri-runtime-v1.proto). The image is the one
// test/helpers/cri-node.ts builds; this containerd runs without that
// helper's private /var and /run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPauseImage, PAUSE_IMAGE } from '../helpers/cri-node.ts';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { BIN_DIR, GO_DIR, ROOT, tempDir } from '../helpers/plugin.ts';

const ready = isRoot() && existsSync('/usr/bin/containerd') && existsSync('/usr/sbin/runc') && existsSync('/usr/bin/busybox');

describe.runIf(ready)('containerd through its CRI', () => {
  let node: Netns;
  let dir: ReturnType<typeof tempDir>;
  let daemon: ChildProcess | undefined;
  let cri: any;
  const sandboxes: string[] = [];
  const call = (method: string, req: object): Promise<any> => new Promise((res, rej) => cri[method](req, (e: Error | null, r: any) => (e ? rej(e) : res(r))));

  let netnsBefore: Set<string>;
  const netnsNow = async () => new Set((await execa('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
  beforeAll(async () => {
    netnsBefore = await netnsNow();
    node = await createNetns('node');
    dir = tempDir('fnt-ctd');
    const d = (...p: string[]) => join(dir.path, ...p);
    for (const sub of ['root', 'state', 'net.d', 'bin', 'ipam', 'img']) mkdirSync(d(sub));
    // containerd 1.6 takes one CNI bin dir: link flatnet's and Go's portmap and
    // loopback (the CRI plugin always attaches lo through it) into it.
    for (const [src, name] of [[join(BIN_DIR, 'flatnet'), 'flatnet'], [join(BIN_DIR, 'flatnet-ipam'), 'flatnet-ipam'], [join(GO_DIR, 'portmap'), 'portmap'], [join(GO_DIR, 'loopback'), 'loopback']] as const) symlinkSync(src, d('bin', name));
    writeFileSync(
      d('net.d', '10-flatnet.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'fnctd',
        plugins: [
          { type: 'flatnet', bridge: 'fnctd0', isGateway: true, isDefaultGateway: true, ipMasq: true, ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.253.0.0/24' }]], dataDir: d('ipam') } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    const sock = d('containerd.sock');
    writeFileSync(
      d('config.toml'),
      [
        'version = 2',
        `root = "${d('root')}"`,
        `state = "${d('state')}"`,
        '[grpc]',
        `  address = "${sock}"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${PAUSE_IMAGE}"`,
        '  disable_apparmor = true',
        '  restrict_oom_score_adj = true',
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "native"',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        `    bin_dir = "${d('bin')}"`,
        `    conf_dir = "${d('net.d')}"`,
        '',
      ].join('\n'),
    );
    // nsenter --net: ip netns exec would remount /sys and hide the cgroup tree.
    daemon = spawn('nsenter', [`--net=${node.path}`, 'containerd', '--config', d('config.toml')], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const tar = await buildPauseImage(d('img'));
    await execa('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'import', tar]);
    const def = protoLoader.loadSync(join(ROOT, 'test', 'fixtures', 'cri-runtime-v1.proto'), { keepCase: false, longs: String, defaults: true });
    const proto = grpc.loadPackageDefinition(def) as any;
    cri = new proto.runtime.v1.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure());
  }, 120_000);

  afterAll(async () => {
    for (const id of sandboxes) {
      await call('StopPodSandbox', { podSandboxId: id }).catch(() => undefined);
      await call('RemovePodSandbox', { podSandboxId: id }).catch(() => undefined);
    }
    cri?.close();
    if (daemon && daemon.exitCode === null) {
      await new Promise((r) => {
        daemon!.once('exit', r);
        daemon!.kill('SIGTERM');
      });
    }
    // Sandbox namespaces containerd made for this test and did not remove (a failed sandbox).
    for (const n of await netnsNow()) if (n.startsWith('cni-') && !netnsBefore.has(n)) await execa('ip', ['netns', 'del', n], { reject: false });
    await deleteAllNetns();
    dir?.remove();
  }, 60_000);

  it('pod sandboxes get flatnet addresses and reach each other', async () => {
    const v = await call('Version', { version: 'v1' });
    expect(v.runtimeName).toBe('containerd');
    const ids: string[] = [];
    for (const name of ['pod-a', 'pod-b']) {
      const r = await call('RunPodSandbox', { config: { metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 }, hostname: name, logDirectory: join(dir.path, 'logs', name) } });
      sandboxes.push(r.podSandboxId);
      ids.push(r.podSandboxId);
    }
    const status = await Promise.all(ids.map((id) => call('PodSandboxStatus', { podSandboxId: id, verbose: true })));
    const ips = status.map((s) => s.status.network.ip);
    for (const ip of ips) expect(ip).toMatch(/^10\.253\.0\.\d+$/);
    expect(new Set(ips).size).toBe(2);
    // The pod network namespace from the sandbox's runtime spec, to ping from inside pod-a.
    const spec = JSON.parse(status[0].info.info).runtimeSpec;
    const netnsPath = spec.linux.namespaces.find((n: any) => n.type === 'network').path;
    const ping = await execa('nsenter', [`--net=${netnsPath}`, 'ping', '-c', '1', '-W', '2', ips[1]], { reject: false });
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    // Removing the sandboxes runs CNI DEL: flatnet's store is empty again.
    for (const id of ids) {
      await call('StopPodSandbox', { podSandboxId: id });
      await call('RemovePodSandbox', { podSandboxId: id });
    }
    sandboxes.length = 0;
    expect(readdirSync(join(dir.path, 'ipam', 'fnctd')).filter((f) => /^\d/.test(f))).toEqual([]);
  }, 120_000);
});
