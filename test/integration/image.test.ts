// The kind path: scripts/image.sh writes a docker-archive that
// `kind load image-archive` takes. kind's containerd is not here, so a real
// engine stands in: podman (its own store in a temp dir) loads the archive,
// which must name the image docker.io/library/flatnet:<version> (what the
// DaemonSet's `image: flatnet:<version>` resolves to), carry the binaries of
// dist/bin with /usr/local/bin/flatnet as entrypoint, and run
// `flatnet version`. The image is built once (debootstrap: about a minute).
// podman runs inside a test-owned namespace, with no network for the container.
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { BIN_DIR, ROOT, tempDir } from '../helpers/plugin.ts';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NAME = `docker.io/library/flatnet:${version}`;
const have = (p: string) => existsSync(p);
const ready = isRoot() && have('/usr/bin/podman') && have('/usr/bin/buildah') && have('/usr/sbin/runc') && have('/usr/sbin/debootstrap');

describe.runIf(ready)('the image archive for kind (scripts/image.sh)', () => {
  let dir: ReturnType<typeof tempDir>;
  let node: Netns;
  let archive: string;
  let podman: (...args: string[]) => ReturnType<typeof execa>;
  beforeAll(async () => {
    dir = tempDir('fnt-image');
    node = await createNetns('image');
    archive = join(dir.path, 'flatnet-image.tar');
    const built = await execa('bash', [join(ROOT, 'scripts', 'image.sh'), '-o', archive], { reject: false, all: true });
    expect(built.exitCode, built.all).toBe(0);
    expect(built.stdout.trim()).toBe(archive);
    // overlay (vfs copies the whole image per container), unless the temp dir is on overlayfs.
    const driver = (await execa('stat', ['-f', '-c', '%T', dir.path])).stdout.trim() === 'overlayfs' ? 'vfs' : 'overlay';
    // nsenter --net, not ip netns exec: the latter remounts /sys and hides the cgroup tree.
    podman = (...args: string[]) =>
      execa('nsenter', [`--net=${node.path}`, 'podman', '--root', join(dir.path, 'root'), '--runroot', join(dir.path, 'runroot'), '--storage-driver', driver, '--events-backend', 'file', ...args], { reject: false });
  }, 900_000);
  afterAll(async () => {
    await podman?.('rmi', '-a', '-f');
    // overlay keeps its store mounted; nothing of it may outlive the temp dir.
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((p) => dir && p.startsWith(dir.path)).reverse()) await execa('umount', ['-l', m], { reject: false });
    await deleteAllNetns();
    dir?.remove();
  }, 120_000);

  it('is a docker-archive tagged with the name kind resolves flatnet:<version> to', async () => {
    const manifest = JSON.parse((await execa('tar', ['-xOf', archive, 'manifest.json'])).stdout);
    expect(manifest).toHaveLength(1);
    expect(manifest[0].RepoTags).toEqual([NAME]);
  });

  it('loads into podman under that name, with flatnet as entrypoint', async () => {
    const load = await podman('load', '-i', archive);
    expect(load.exitCode, String(load.stderr)).toBe(0);
    expect(String(load.stdout)).toContain(`Loaded image: ${NAME}`);
    const inspect = await podman('image', 'inspect', NAME);
    expect(inspect.exitCode, String(inspect.stderr)).toBe(0);
    const [img] = JSON.parse(String(inspect.stdout));
    expect(img.RepoTags).toContain(NAME);
    expect(img.Config.Entrypoint).toEqual(['/usr/local/bin/flatnet']);
    expect(img.Config.Cmd).toEqual(['agent']);
  }, 120_000);

  // runc, because crun refuses this machine's cgroup layout; the rlimits
  // because runc may not raise them past the test process's.
  const run = (...args: string[]) => podman('--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', ...args);

  it('runs `flatnet version` (through the entrypoint, which execs flatnet-cli)', async () => {
    const r = await run(NAME, 'version');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout).trim()).toMatch(new RegExp(`^flatnet ${version.replace(/\./g, '\\.')} \\(CNI `));
  }, 120_000);

  it('carries the binaries of dist/bin and what they exec (ip, iptables, nft)', async () => {
    const r = await run('--entrypoint', '/bin/sh', NAME, '-c', 'cd /usr/local/bin && sha256sum flatnet flatnet-ipam flatnet-cli && ip -V && iptables -V && nft -v');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    for (const b of ['flatnet', 'flatnet-ipam', 'flatnet-cli']) {
      const sum = createHash('sha256').update(readFileSync(join(BIN_DIR, b))).digest('hex');
      expect(String(r.stdout)).toContain(`${sum}  ${b}`);
    }
    expect(String(r.stdout)).toMatch(/iproute2/);
    expect(String(r.stdout)).toMatch(/iptables v/);
    expect(String(r.stdout)).toMatch(/nftables v/);
  }, 120_000);
});
