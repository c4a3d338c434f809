// Finds libcni-driver (a front end to libcni, the CNI client library inside
// containerd and CRI-O), building it from scripts/libcni-driver/main.go with
// Debian's Go toolchain and libcni sources (golang-go,
// golang-github-appc-cni-dev: node scripts/setup.mjs test installs them) the
// first time. Throws when it cannot be built; no network is used.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(root, 'scripts', 'libcni-driver');
const GOPATH = '/usr/share/gocode';
const CACHE = join(root, 'node_modules', '.cache', 'flatnet');
const CACHED = join(CACHE, 'libcni-driver');

export function libcniDriver() {
  for (const p of [process.env.LIBCNI_DRIVER, '/usr/local/bin/libcni-driver', CACHED]) if (p && existsSync(p)) return p;
  return buildLibcniDriver(CACHED);
}

/** Builds libcni-driver into `out` (about 2 s once Go's cache is warm). */
export function buildLibcniDriver(out) {
  if (!existsSync(join(GOPATH, 'src', 'github.com', 'containernetworking', 'cni', 'libcni'))) {
    throw new Error("libcni-driver: Debian's libcni sources are missing: node scripts/setup.mjs test (installs golang-go golang-github-appc-cni-dev)");
  }
  mkdirSync(CACHE, { recursive: true });
  // GOPATH mode over Debian's packaged sources: no module download.
  execFileSync('go', ['build', '-o', out, '.'], {
    cwd: SOURCE,
    env: { ...process.env, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: process.env.GOCACHE ?? join(CACHE, 'go-build') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return out;
}
