// The images a harness cluster runs, built locally from Debian's packages and
// the Kubernetes tree (no registry is reachable), cached beside the
// Kubernetes binaries. Each is an OCI archive (oci.mjs) imported into every
// node's containerd under the names kubelet, the manifests and e2e.test use:
//   pause    k8s.gcr.io/pause:3.2, the sandbox image (build/pause/linux/pause.c, static)
//   busybox  docker.io/library/busybox:1.29 (Debian's busybox-static)
//   agnhost  flatnet.local/agnhost:2.21: agnhost over busybox, for the demo
//            and the harness's own checks (netexec's /clientip tells the
//            source address a server saw)
//   e2e      k8s.gcr.io/e2e-test-images/agnhost:2.21 and the other names the
//            1.20 network tests pull: agnhost over a Debian minbase with the
//            tools those tests exec (sh, curl, openbsd nc, wget, ss,
//            conntrack); built with debootstrap, only for the e2e run.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { runStep } from '../progress.mjs';
import { kubeBinDir, kubeCacheDir } from './build.mjs';
import { PAUSE_IMAGE } from './configs.mjs';
import { ociArchive } from './oci.mjs';

$.verbose = false;
$.quiet = true;

export const AGNHOST_IMAGE = 'flatnet.local/agnhost:2.21';
const E2E_NAMES = {
  agnhost: ['k8s.gcr.io/e2e-test-images/agnhost:2.21', 'k8s.gcr.io/build-image/debian-iptables:buster-v1.3.0'],
  // The EndpointSlice and Service tests only need these to run and listen.
  webserver: ['docker.io/library/nginx:1.14-alpine', 'docker.io/library/httpd:2.4.38-alpine', 'docker.io/library/httpd:2.4.39-alpine'],
};
// Tools the 1.20 network e2e tests exec inside agnhost-based pods.
const E2E_DEBS = ['curl', 'netcat-openbsd', 'wget', 'iproute2', 'conntrack', 'iptables', 'dnsutils', 'procps'];

const imagesDir = () => join(kubeCacheDir(), 'images');

/** Installs busybox's applets as links in `rootfs`/bin. */
async function busyboxRoot(rootfs) {
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync('/usr/bin/busybox', join(rootfs, 'bin', 'busybox'));
  const { stdout } = await $`/usr/bin/busybox --list`;
  for (const applet of stdout.split('\n').filter(Boolean)) if (applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
}

async function once(name, make) {
  const out = join(imagesDir(), `${name}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(imagesDir(), { recursive: true });
  // Per process: two runs building the same image never share a tree.
  const work = join(imagesDir(), `${name}.work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await make(work, `${out}.${process.pid}.tmp`);
  renameSync(`${out}.${process.pid}.tmp`, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}

export function pauseArchive() {
  return once('pause-3.2', async (work, out) => {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    await $`gcc -Os -static -DVERSION=v3.2-flatnet -o ${join(rootfs, 'pause')} ${join(kubeCacheDir(), 'src', 'build', 'pause', 'linux', 'pause.c')}`;
    await ociArchive(rootfs, [{ name: PAUSE_IMAGE, config: { Entrypoint: ['/pause'] } }], out);
  });
}

export function busyboxArchive() {
  return once('busybox-1.29', async (work, out) => {
    const rootfs = join(work, 'rootfs');
    await busyboxRoot(rootfs);
    await ociArchive(rootfs, ['docker.io/library/busybox:1.29', 'docker.io/library/busybox:latest'].map((name) => ({ name, config: { Cmd: ['sh'] } })), out);
  });
}

export function agnhostArchive() {
  return once('agnhost-2.21', async (work, out) => {
    const rootfs = join(work, 'rootfs');
    await busyboxRoot(rootfs);
    copyFileSync(join(kubeBinDir(), 'agnhost'), join(rootfs, 'agnhost'));
    await ociArchive(rootfs, [{ name: AGNHOST_IMAGE, config: { Entrypoint: ['/agnhost'], Cmd: ['pause'] } }], out);
  });
}

export function e2eArchive() {
  // -2: porter's TLS certificate added (the name keys the cached archive).
  return once('e2e-agnhost-2.21-2', async (work, out) => {
    const rootfs = join(work, 'rootfs');
    await runStep({ name: 'debootstrap', what: `building the e2e image's Debian root (debootstrap minbase + ${E2E_DEBS.join(' ')}, once)`, every: 20 }, 'debootstrap', ['--variant=minbase', `--include=${E2E_DEBS.join(',')}`, 'bookworm', rootfs, 'http://deb.debian.org/debian']);
    await $`rm -rf ${join(rootfs, 'var/cache/apt/archives')}/*.deb ${join(rootfs, 'var/lib/apt/lists')}`;
    copyFileSync(join(kubeBinDir(), 'agnhost'), join(rootfs, 'agnhost'));
    // As agnhost's Dockerfile: porter serves TLS ports with ./localhost.crt and .key (the image's cwd is /).
    for (const f of ['localhost.crt', 'localhost.key']) copyFileSync(join(kubeCacheDir(), 'src', 'test', 'images', 'agnhost', 'porter', f), join(rootfs, f));
    const images = [
      ...E2E_NAMES.agnhost.map((name) => ({ name, config: { Entrypoint: ['/agnhost'], Cmd: ['pause'] } })),
      ...E2E_NAMES.webserver.map((name) => ({ name, config: { Entrypoint: ['/agnhost'], Cmd: ['test-webserver', '--port', '80'] } })),
    ];
    await ociArchive(rootfs, images, out);
  });
}
