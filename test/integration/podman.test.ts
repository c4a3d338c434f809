// podman (Debian's, CNI network backend) pointed at flatnet's conflist and
// binaries, with no change to podman: containers get their addresses from
// flatnet and reach each other on the bridge. podman runs inside a test-owned
// namespace playing the node; containers use a busybox rootfs directory, as no
// image registry is reachable here. runc, because crun refuses this machine's
// hybrid cgroup layout.
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { BIN_DIR, GO_DIR, tempDir } from '../helpers/plugin.ts';

const have = (p: string) => existsSync(p);
const ready = isRoot() && have('/usr/bin/podman') && have('/usr/sbin/runc') && have('/usr/bin/busybox');

describe.runIf(ready)('podman with the CNI backend', () => {
  let node: Netns;
  let dir: ReturnType<typeof tempDir>;
  let podman: (...args: string[]) => ReturnType<typeof execa>;
  beforeAll(async () => {
    node = await createNetns('node');
    dir = tempDir('fnt-podman');
    const d = (...p: string[]) => join(dir.path, ...p);
    for (const sub of ['rootfs/bin', 'rootfs/proc', 'rootfs/sys', 'rootfs/dev', 'rootfs/etc', 'rootfs/tmp', 'net.d', 'root', 'runroot', 'ipam']) mkdirSync(d(sub), { recursive: true });
    copyFileSync('/usr/bin/busybox', d('rootfs/bin/busybox'));
    chmodSync(d('rootfs/bin/busybox'), 0o755);
    for (const c of ['sh', 'ip', 'ping', 'sleep']) symlinkSync('busybox', d('rootfs/bin', c));
    writeFileSync(
      d('net.d', '10-flatnet.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'fnpodman',
        plugins: [{ type: 'flatnet', bridge: 'fnpm0', isGateway: true, isDefaultGateway: true, ipMasq: true, ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.252.0.0/24' }]], dataDir: d('ipam') } }],
      }),
    );
    writeFileSync(d('containers.conf'), `[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["${BIN_DIR}", "${GO_DIR}"]\nnetwork_config_dir = "${d('net.d')}"\n`);
    // nsenter --net, not ip netns exec: the latter remounts /sys and hides the cgroup tree.
    podman = (...args: string[]) =>
      execa('nsenter', [`--net=${node.path}`, 'podman', '--root', d('root'), '--runroot', d('runroot'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', ...args], {
        env: { CONTAINERS_CONF: d('containers.conf') },
        reject: false,
      });
  }, 60_000);
  afterAll(async () => {
    await podman?.('rm', '-f', '-t', '0', '-a');
    await deleteAllNetns();
    dir.remove();
  }, 60_000);

  // --rootfs takes the image's place: options before it, the command after.
  const run = (opts: string[], cmd: string[]) => ['run', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'fnpodman', ...opts, '--rootfs', join(dir.path, 'rootfs'), ...cmd];

  it('a container gets its address from flatnet and reaches a container on the same bridge', async () => {
    const a = await podman(...run(['-d', '--name', 'fn-a'], ['/bin/sleep', '60']));
    expect(a.exitCode, String(a.stderr)).toBe(0);
    const ipA = String((await podman('inspect', '--format', '{{.NetworkSettings.Networks.fnpodman.IPAddress}}', 'fn-a')).stdout).trim();
    expect(ipA).toMatch(/^10\.252\.0\.\d+$/);
    const b = await podman(...run(['--rm'], ['/bin/sh', '-c', `ip -4 addr show eth0; ping -c 1 -W 2 ${ipA}`]));
    expect(b.exitCode, String(b.stderr)).toBe(0);
    expect(String(b.stdout)).toMatch(/inet 10\.252\.0\.\d+\/24/);
    expect(String(b.stdout)).toContain('1 packets received');
    // flatnet's store holds exactly the running container's lease after B is gone.
    expect((await podman('rm', '-f', '-t', '0', 'fn-a')).exitCode).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(dir.path, 'ipam', 'fnpodman')).filter((f) => /^\d/.test(f))).toEqual([]);
  }, 120_000);
});
