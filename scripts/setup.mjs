#!/usr/bin/env node
// The one setup step: brings what flatnet's commands need onto a Debian
// machine. `npm test`, `npm run demo`, `npm run build` and scripts/image.sh
// run it first; .ci/run runs it too. Plain Node with no dependency, so it
// works before node_modules exists (npm runs a script without it).
//
//   node scripts/setup.mjs [--check] [GOAL...]     GOAL: npm build demo test image (default: test)
//
// For each goal it
//   1. checks the Debian packages below (the only list of them) and, as root
//      with apt-get, installs the missing ones; otherwise, or with --check or
//      FLATNET_SETUP=check, says which are missing and the command that
//      installs them, and fails;
//   2. runs `npm install` when node_modules is missing or differs from
//      package-lock.json (that is also when the QuickJS source arrives: the
//      qjsc devDependency; the build itself never uses the network).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStep } from './progress.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages by purpose: the one list (.ci/run and scripts/image.sh use it through this script). */
export const DEBS = {
  // QuickJS and the static CNI binaries: make, gcc, glibc's static libraries.
  build: ['gcc', 'make', 'libc6-dev'],
  // Namespaces, links, routes, masquerade, sysctl, nsenter, ping; and portmap,
  // which the agent's conflist (the demo's pods') chains: Debian has it in
  // /usr/lib/cni with the other Go reference plugins.
  demo: ['iproute2', 'iptables', 'iputils-ping', 'procps', 'util-linux', 'containernetworking-plugins'],
  // The tests beside the demo's: nft, libcni-driver (Go + Debian's libcni
  // sources), podman, containerd, runc, busybox.
  test: ['nftables', 'golang-go', 'golang-github-appc-cni-dev', 'podman', 'runc', 'busybox-static', 'containerd'],
  // scripts/image.sh: the image's rootfs and the image itself, daemonless.
  image: ['buildah', 'debootstrap'],
  // The Kubernetes harness (scripts/kube/): Go and rsync build Kubernetes
  // from Debian's source package; etcd, containerd, runc and conntrack (for
  // kube-proxy) run it; busybox, curl and openssl for its images, probes and
  // certificates; the Go plugins a kind node carries beside flatnet.
  kube: ['golang-go', 'rsync', 'etcd-server', 'containerd', 'runc', 'conntrack', 'busybox-static', 'curl', 'openssl', 'containernetworking-plugins'],
};

/** Which groups each goal needs, and the command a user typed for it. */
export const GOALS = {
  npm: { groups: [], command: 'npm install' },
  build: { groups: ['build'], command: 'npm run build' },
  demo: { groups: ['build', 'demo'], command: 'npm run demo', root: true },
  test: { groups: ['build', 'demo', 'test', 'image', 'kube'], command: 'npm test', kube: true },
  kube: { groups: ['build', 'demo', 'image', 'kube'], command: 'npm run demo:k8s', root: true, kube: true },
  image: { groups: ['image'], command: 'scripts/image.sh', root: true },
};

/** Names of the packages that dpkg's status file (its text) says are installed. */
export function installedDebs(statusText) {
  const out = new Set();
  for (const stanza of statusText.split(/\n\s*\n/)) {
    const name = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    // "Status: want flag state", e.g. "install ok installed"; only that state counts.
    const state = /^Status:\s*\S+\s+\S+\s+(\S+)\s*$/m.exec(stanza)?.[1];
    if (name && state === 'installed') out.add(name);
  }
  return out;
}

/** The packages of `groups` that are not installed (undefined: no dpkg here). */
export function missingDebs(groups, statusFile = process.env.FLATNET_DPKG_STATUS || '/var/lib/dpkg/status') {
  if (!existsSync(statusFile)) return undefined;
  const have = installedDebs(readFileSync(statusFile, 'utf8'));
  return [...new Set(groups.flatMap((g) => DEBS[g]))].filter((p) => !have.has(p));
}

/** What to tell a user whose machine lacks `missing` for `goal`. */
export function missingMessage(goal, missing, why) {
  return [
    `flatnet: \`${GOALS[goal].command}\` needs Debian packages that are not installed:`,
    `    ${missing.join(' ')}`,
    `  Install them (as root) with the setup step:`,
    `    node scripts/setup.mjs ${goal}`,
    `  which runs: apt-get update && apt-get install -y ${missing.join(' ')}`,
    ...(why ? [`  (not installed automatically: ${why})`] : []),
  ].join('\n');
}

const deps = (p) => ({ ...p.dependencies, ...p.devDependencies, ...p.optionalDependencies });
const same = (a, b) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Why node_modules needs `npm install`, or undefined when it matches package-lock.json. */
export function npmStale(dir = root) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const lockFile = join(dir, 'package-lock.json');
  if (!existsSync(lockFile)) return 'package-lock.json is missing';
  const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
  if (!same(deps(pkg), deps(lock.packages?.[''] ?? {}))) return 'package.json and package-lock.json list different dependencies';
  if (!existsSync(join(dir, 'node_modules'))) return 'node_modules is missing';
  // npm's record of what it installed; compared entry by entry with the lock.
  const hiddenFile = join(dir, 'node_modules', '.package-lock.json');
  if (!existsSync(hiddenFile)) return 'node_modules has no record of an npm install';
  const hidden = JSON.parse(readFileSync(hiddenFile, 'utf8')).packages ?? {};
  for (const [path, want] of Object.entries(lock.packages ?? {})) {
    if (!path.startsWith('node_modules/')) continue;
    const got = hidden[path];
    // Optional packages for other platforms are left out on purpose.
    if (!got) {
      if (want.optional || want.devOptional || want.peer) continue;
      return `${path} is not installed`;
    }
    if (want.version && got.version !== want.version) return `${path} is ${got.version}, package-lock.json has ${want.version}`;
    if (!got.link && !existsSync(join(dir, path, 'package.json'))) return `${path} is gone`;
  }
  return undefined;
}

function fail(msg) {
  process.stderr.write(`${msg}\n`);
  process.exit(1);
}

async function aptInstall(missing) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runStep({ name: 'apt-get update', what: 'apt-get update', inherit: true, every: 0, env }, 'apt-get', ['update', '-q']);
  await runStep({ name: 'apt-get install', what: `installing Debian packages: ${missing.join(' ')} (apt-get, a few minutes on a fresh machine)`, inherit: true, every: 0, env }, 'apt-get', ['install', '-y', '-q', ...missing]);
}

export async function setup(goals, { check = false } = {}) {
  const [major] = process.versions.node.split('.').map(Number);
  if (major < 20) fail(`flatnet: Node ${process.versions.node} is too old; it needs Node 20 or newer`);
  const isRoot = process.getuid?.() === 0;
  for (const goal of goals) {
    const g = GOALS[goal];
    if (!g) fail(`flatnet: setup: unknown goal ${goal} (one of: ${Object.keys(GOALS).join(' ')})`);
    if (g.root && !isRoot && !check) fail(`flatnet: \`${g.command}\` makes network namespaces and needs root: run it as root (e.g. sudo ${g.command})`);
  }
  // Without root only the build matters: the namespace tests skip themselves.
  const groups = [...new Set(goals.flatMap((goal) => GOALS[goal].groups))].filter((grp) => isRoot || check || grp === 'build');
  if (!isRoot && !check && goals.includes('test')) process.stderr.write('flatnet: not root: the tests in network namespaces will be skipped (run npm test as root for all of them)\n');
  const missing = missingDebs(groups);
  const goal = goals.find((x) => GOALS[x].groups.some((grp) => groups.includes(grp))) ?? goals[0];
  if (missing === undefined) {
    if (groups.length) process.stderr.write(`flatnet: no dpkg here, so the Debian packages are not checked; flatnet expects: ${groups.flatMap((grp) => DEBS[grp]).join(' ')}\n`);
  } else if (missing.length) {
    const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
    const why = check ? 'checking only (--check)' : process.env.FLATNET_SETUP === 'check' ? 'FLATNET_SETUP=check' : !isRoot ? 'not root' : !hasApt ? 'no apt-get' : '';
    if (why) fail(missingMessage(goal, missing, why));
    await aptInstall(missing);
    const still = missingDebs(groups) ?? [];
    if (still.length) fail(missingMessage(goal, still, 'apt-get ran, yet they are still missing'));
  }
  const stale = npmStale();
  if (stale) {
    if (check) fail(`flatnet: npm dependencies need installing (${stale}): npm install`);
    // npm install, not npm ci: npm ci rejects the lock file npm 11 itself
    // writes here (it leaves out other platforms' optional packages).
    await runStep({ name: 'npm install', what: `installing npm dependencies, ${stale} (npm install, about 20 s)`, inherit: true, every: 10, cwd: root }, 'npm', ['install', '--no-audit', '--no-fund']);
    const again = npmStale();
    if (again) process.stderr.write(`flatnet: after npm install: ${again}\n`);
  }
  // Kubernetes itself, built once from source and cached outside the clone.
  if (isRoot && !check && goals.some((goal) => GOALS[goal].kube) && process.env.FLATNET_KUBE !== 'off') {
    const { ensureKube } = await import('./kube/build.mjs');
    await ensureKube();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    console.log(`usage: node scripts/setup.mjs [--check] [GOAL...]   GOAL: ${Object.keys(GOALS).join(' ')} (default: test)
Installs what a goal needs: missing Debian packages (apt-get, as root) and npm
dependencies (npm install, when node_modules is missing or stale).
--check (or FLATNET_SETUP=check) only reports what is missing.
Debian packages:\n${Object.entries(DEBS).map(([k, v]) => `  ${k.padEnd(6)} ${v.join(' ')}`).join('\n')}`);
    process.exit(0);
  }
  const check = args.includes('--check');
  const goals = args.filter((a) => a !== '--check');
  await setup(goals.length ? goals : ['test'], { check });
}
