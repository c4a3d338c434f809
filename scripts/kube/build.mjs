#!/usr/bin/env node
// Builds the Kubernetes the cluster harness runs (kube-apiserver, kubelet,
// controller-manager, scheduler, kube-proxy, kubectl, e2e.test, ginkgo,
// agnhost) from Debian bookworm's `kubernetes` source package (1.20.2 with its
// vendored modules), offline once the source is downloaded. The result is
// cached outside the clone (FLATNET_KUBE_CACHE, default
// /var/cache/flatnet/kubernetes): a second run only checks it.
//
//   node scripts/kube/build.mjs [--print-dir]
//
// apt's source lists live in the cache (Dir::Etc::SourceList and friends), so
// the machine's own apt configuration is never changed.
import { existsSync, mkdirSync, readdirSync, writeFileSync, copyFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStep } from '../progress.mjs';

export const KUBE_VERSION = '1.20.2';
export const KUBE_SOURCE_PACKAGE = 'kubernetes';
/** The binaries the harness and the e2e run need, and where make puts them. */
export const KUBE_BINARIES = ['kube-apiserver', 'kubelet', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubectl', 'e2e.test', 'ginkgo', 'agnhost'];
const MAKE_WHAT = 'cmd/kube-apiserver cmd/kubelet cmd/kube-controller-manager cmd/kube-scheduler cmd/kube-proxy cmd/kubectl test/e2e/e2e.test vendor/github.com/onsi/ginkgo/ginkgo test/images/agnhost';

export function kubeCacheDir(env = process.env) {
  return join(env.FLATNET_KUBE_CACHE || '/var/cache/flatnet/kubernetes', KUBE_VERSION);
}
export const kubeBinDir = (env = process.env) => join(kubeCacheDir(env), 'bin');

/** Whether every binary is in the cache. */
export function kubeBuilt(env = process.env) {
  const bin = kubeBinDir(env);
  return KUBE_BINARIES.every((b) => existsSync(join(bin, b)) && statSync(join(bin, b)).size > 0);
}

function aptOpts(dir) {
  return ['-o', `Dir::Etc::SourceList=${join(dir, 'src.sources')}`, '-o', 'Dir::Etc::SourceParts=/dev/null', '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', 'Dir::Cache=' + join(dir, 'apt-cache')];
}

async function fetchSource(cache) {
  const apt = join(cache, 'apt');
  mkdirSync(join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(apt, 'apt-cache', 'archives', 'partial'), { recursive: true });
  writeFileSync(join(apt, 'src.sources'), [
    'Types: deb-src',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n'));
  await runStep({ name: 'apt-get update (sources)', what: 'reading Debian bookworm source lists (into the cache, not /etc/apt)', every: 10 }, 'apt-get', [...aptOpts(apt), 'update', '-q']);
  const dl = join(cache, 'download');
  mkdirSync(dl, { recursive: true });
  await runStep({ name: 'apt-get source', what: `downloading Debian's ${KUBE_SOURCE_PACKAGE} source package (34 MB)`, every: 10, cwd: dl }, 'apt-get', [...aptOpts(apt), 'source', '--download-only', '-q', KUBE_SOURCE_PACKAGE]);
  const orig = readdirSync(dl).find((f) => f.endsWith('.orig.tar.gz'));
  if (!orig) throw new Error(`no .orig.tar.gz in ${dl}`);
  return join(dl, orig);
}

async function build(cache) {
  const tree = join(cache, 'src');
  if (!existsSync(join(tree, 'Makefile'))) {
    const orig = await fetchSource(cache);
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    await runStep({ name: 'unpack', what: 'unpacking the Kubernetes source', every: 10 }, 'tar', ['-xzf', orig, '-C', tree, '--strip-components=1']);
  }
  // GOPATH mode, as Debian's rules build it: module mode with -mod=vendor
  // wants go.mod updates that an offline build cannot make.
  const gopath = join(cache, 'gopath');
  mkdirSync(join(gopath, 'src', 'k8s.io'), { recursive: true });
  const link = join(gopath, 'src', 'k8s.io', 'kubernetes');
  if (!existsSync(link)) await runStep({ name: 'link', every: 0 }, 'ln', ['-sfn', tree, link]);
  const env = { ...process.env, GOPATH: gopath, GOCACHE: join(cache, 'gocache'), CGO_ENABLED: '0', GOPROXY: 'off', GOFLAGS: '', GO111MODULE: 'off' };
  const out = join(tree, '_output', 'local', 'go', 'bin');
  const progress = () => {
    const have = existsSync(out) ? KUBE_BINARIES.filter((b) => existsSync(join(out, b))).length : 0;
    return `${have} of ${KUBE_BINARIES.length} binaries`;
  };
  await runStep({ name: 'Kubernetes build', what: `building Kubernetes ${KUBE_VERSION} (once; ~15 min on 2 cores, cached in ${cache})`, progress, every: 60, env, cwd: link }, 'make', [`WHAT=${MAKE_WHAT}`]);
  const bin = join(cache, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const b of KUBE_BINARIES) copyFileSync(join(out, b), join(bin, b));
}

export async function ensureKube(env = process.env) {
  if (kubeBuilt(env)) return kubeBinDir(env);
  const cache = kubeCacheDir(env);
  mkdirSync(cache, { recursive: true });
  await build(cache);
  if (!kubeBuilt(env)) throw new Error(`Kubernetes build finished but ${kubeBinDir(env)} lacks some of: ${KUBE_BINARIES.join(' ')}`);
  return kubeBinDir(env);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--print-dir')) {
    console.log(kubeBinDir());
  } else {
    await ensureKube();
    process.stderr.write(`flatnet: Kubernetes ${KUBE_VERSION} binaries in ${kubeBinDir()}\n`);
  }
}
