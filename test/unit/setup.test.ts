// The setup step (scripts/setup.mjs): which Debian packages are missing,
// what a user is told, when node_modules needs `npm install`; and the
// scripts' usage lines. A fresh machine is faked with a dpkg status file.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS module, dependency-free on purpose
import { DEBS, GOALS, installedDebs, missingDebs, missingMessage, npmStale } from '../../scripts/setup.mjs';
// @ts-expect-error: plain JS module
import { checkSource } from '../../scripts/quickjs.mjs';
import { renderConflist } from '../../src/agent/cni-config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SETUP = join(ROOT, 'scripts', 'setup.mjs');
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'fnt-setup-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const stanza = (name: string, status: string) => `Package: ${name}\nStatus: ${status}\nArchitecture: amd64\nVersion: 1\n`;

describe('Debian packages', () => {
  it('reads installed packages from dpkg status, not removed or half-installed ones', () => {
    const text = [stanza('gcc', 'install ok installed'), stanza('make', 'deinstall ok config-files'), stanza('podman', 'install ok half-installed'), stanza('runc', 'purge ok not-installed'), stanza('iproute2', 'hold ok installed')].join('\n');
    expect([...installedDebs(text)].sort()).toEqual(['gcc', 'iproute2']);
  });

  it('lists the missing packages of the goals, each once', () => {
    const d = temp();
    writeFileSync(join(d, 'status'), [stanza('gcc', 'install ok installed'), stanza('iproute2', 'install ok installed')].join('\n'));
    const missing = missingDebs(['build', 'demo', 'build'], join(d, 'status'));
    expect(missing).toEqual(['make', 'libc6-dev', 'iptables', 'iputils-ping', 'procps', 'util-linux', 'containernetworking-plugins']);
    expect(missingDebs(['build'], join(d, 'nothing-here'))).toBeUndefined();
  });

  it('npm test needs every group, the demo only build and demo', () => {
    expect(GOALS.test.groups).toEqual(['build', 'demo', 'test', 'image', 'kube']);
    expect(GOALS.demo.groups).toEqual(['build', 'demo']);
    for (const p of ['gcc', 'make', 'iptables', 'containernetworking-plugins', 'golang-github-appc-cni-dev', 'podman', 'runc', 'busybox-static', 'containerd', 'buildah', 'debootstrap']) {
      expect(Object.values(DEBS).flat()).toContain(p);
    }
  });

  it('tells the user what is missing and the exact command', () => {
    const msg = missingMessage('test', ['podman', 'runc'], 'not root');
    expect(msg).toContain('`npm test` needs Debian packages that are not installed:\n    podman runc');
    expect(msg).toContain('node scripts/setup.mjs test');
    expect(msg).toContain('apt-get update && apt-get install -y podman runc');
    expect(msg).toContain('not root');
  });

  it('on a machine without them, --check fails with that message and installs nothing', async () => {
    const d = temp();
    writeFileSync(join(d, 'status'), stanza('gcc', 'install ok installed'));
    const r = await execa('node', [SETUP, '--check', 'test'], { env: { FLATNET_DPKG_STATUS: join(d, 'status') }, reject: false });
    expect(r.exitCode).toBe(1);
    // Groups may share a package (containerd runs both the CRI tests and the cluster); it is listed once.
    const all = [...new Set(Object.values(DEBS).flat())].filter((p) => p !== 'gcc');
    expect(r.stderr).toContain(`    ${all.join(' ')}\n`);
    expect(r.stderr).toContain(`apt-get install -y ${all.join(' ')}`);
    expect(r.stderr).toContain('checking only (--check)');
  });

  it('FLATNET_SETUP=check reports instead of running apt-get', async () => {
    const d = temp();
    writeFileSync(join(d, 'status'), '');
    const r = await execa('node', [SETUP, 'build'], { env: { FLATNET_DPKG_STATUS: join(d, 'status'), FLATNET_SETUP: 'check' }, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('`npm run build` needs Debian packages that are not installed:\n    gcc make libc6-dev');
    expect(r.stderr).toMatch(/not installed automatically: (FLATNET_SETUP=check|not root)/);
  });

  it('an unknown goal is refused', async () => {
    const r = await execa('node', [SETUP, '--check', 'nonsense'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('unknown goal nonsense');
  });
});

describe('npm dependencies', () => {
  /** A project whose lock wants `lockPkgs`, with `installed` in node_modules. */
  function project(opts: { deps?: Record<string, string>; lockDeps?: Record<string, string>; lockPkgs: Record<string, any>; installed?: Record<string, string> | null }) {
    const d = temp();
    const deps = opts.deps ?? { a: '^1.0.0' };
    writeFileSync(join(d, 'package.json'), JSON.stringify({ name: 'p', devDependencies: deps }));
    writeFileSync(join(d, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'p', devDependencies: opts.lockDeps ?? deps }, ...opts.lockPkgs } }));
    if (opts.installed !== null) {
      mkdirSync(join(d, 'node_modules'));
      const hidden: Record<string, any> = {};
      for (const [name, version] of Object.entries(opts.installed ?? {})) {
        mkdirSync(join(d, 'node_modules', name), { recursive: true });
        writeFileSync(join(d, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
        hidden[`node_modules/${name}`] = { version };
      }
      writeFileSync(join(d, 'node_modules', '.package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: hidden }));
    }
    return d;
  }
  const lockPkgs = { 'node_modules/a': { version: '1.2.0', dev: true }, 'node_modules/@x/a-darwin': { version: '1.2.0', dev: true, optional: true } };

  it('is fresh when node_modules holds what the lock says (other platforms left out)', () => {
    expect(npmStale(project({ lockPkgs, installed: { a: '1.2.0' } }))).toBeUndefined();
  });
  it('needs npm install without node_modules', () => {
    expect(npmStale(project({ lockPkgs, installed: null }))).toBe('node_modules is missing');
  });
  it('needs npm install when the lock moved on', () => {
    expect(npmStale(project({ lockPkgs, installed: { a: '1.1.0' } }))).toBe('node_modules/a is 1.1.0, package-lock.json has 1.2.0');
  });
  it('needs npm install when a package is missing or was deleted', () => {
    expect(npmStale(project({ lockPkgs: { ...lockPkgs, 'node_modules/b': { version: '2.0.0', dev: true } }, installed: { a: '1.2.0' } }))).toBe('node_modules/b is not installed');
    const d = project({ lockPkgs, installed: { a: '1.2.0' } });
    rmSync(join(d, 'node_modules', 'a'), { recursive: true });
    expect(npmStale(d)).toBe('node_modules/a is gone');
  });
  it('needs npm install when package.json gained a dependency', () => {
    expect(npmStale(project({ deps: { a: '^1.0.0', b: '^2.0.0' }, lockDeps: { a: '^1.0.0' }, lockPkgs, installed: { a: '1.2.0' } }))).toBe('package.json and package-lock.json list different dependencies');
  });
  it('this checkout is installed as its lock says, with the pinned QuickJS source', () => {
    expect(npmStale(ROOT)).toBeUndefined();
    expect(() => checkSource()).not.toThrow();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.devDependencies.qjsc).toBe('0.3.0');
  });
});

describe('the commands run the setup step first', () => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  it.each([
    ['test', 'test'],
    ['demo', 'demo'],
    ['build', 'build'],
    ['demo:cni', 'demo'],
    ['demo:k8s', 'kube'],
    ['e2e:k8s', 'kube'],
  ])('npm run %s', (script, goal) => {
    expect(scripts[script].startsWith(`node scripts/setup.mjs ${goal} && `)).toBe(true);
  });
});

// Found on a fresh Debian machine: `npm run demo` failed with `portmap: failed
// to find plugin "portmap"`: its goal installed no Go plugins, and the agent's
// conflist, which the demo's pods are added with, chains portmap.
describe("every README command's goal brings the plugins its conflists chain", () => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const confFile = (name: string) => JSON.parse(readFileSync(join(ROOT, 'conf', name), 'utf8'));
  const agents = JSON.parse(renderConflist({ name: 'flatnet', bridge: 'cni0', podCIDRs: ['10.244.1.0/24'] }));
  // The networks each command attaches pods with (read where the command's script takes them from).
  const CONFLISTS: Record<string, unknown[]> = {
    // scripts/demo-cluster.mjs: scripts/cluster.mjs adds pods with the conflist each agent wrote.
    'npm run demo': [agents],
    // scripts/demo.sh
    'npm run demo:cni': [confFile('manual-add.json')],
    'npm test': [agents, confFile('manual-add.json'), confFile('10-flatnet.conflist'), confFile('dual-stack.conflist')],
    'npm run build': [],
    // scripts/kube/: containerd on each node adds pods with the conflist the agent wrote there.
    'npm run demo:k8s': [agents],
    'npm run e2e:k8s': [agents],
  };
  // Built by `npm run build` into dist/bin; every other plugin comes from Debian's /usr/lib/cni.
  const OWN = new Set(['flatnet', 'flatnet-ipam']);
  const PROVIDER = 'containernetworking-plugins';
  const types = (conf: any): string[] => (conf.plugins ?? [conf]).flatMap((p: any) => [p.type, ...(p.ipam?.type ? [p.ipam.type] : [])]);
  const goalOf = (command: string): string | undefined => {
    const script = command === 'npm test' ? 'test' : command.replace(/^npm run /, '');
    return /^node scripts\/setup\.mjs (\w+) && /.exec(scripts[script] ?? '')?.[1];
  };

  it('knows the conflists of every README command that runs the setup step', () => {
    const commands = new Set([...readme.matchAll(/\bnpm (?:run [\w:]+|test)\b/g)].map((m) => m[0]).filter((c) => goalOf(c)));
    expect([...commands].sort()).toEqual(Object.keys(CONFLISTS).sort());
  });

  it.each(Object.keys(CONFLISTS))('%s', (command) => {
    const goal = goalOf(command)!;
    const debs = GOALS[goal].groups.flatMap((g: string) => DEBS[g]);
    const foreign = [...new Set(CONFLISTS[command]!.flatMap(types))].filter((t) => !OWN.has(t));
    if (foreign.length) expect(debs, `${command} (goal ${goal}) chains ${foreign.join(', ')}`).toContain(PROVIDER);
  });

  // A second oracle where the package is installed: dpkg's own record of who ships the plugin.
  it.runIf(existsSync('/usr/lib/cni/portmap'))(`Debian's ${PROVIDER} is what ships portmap`, async () => {
    expect(types(agents)).toContain('portmap');
    const r = await execa('dpkg', ['-S', '/usr/lib/cni/portmap'], { reject: false });
    if (r.exitCode === 0) expect(r.stdout.split(':')[0]).toBe(PROVIDER);
  });
});

describe('usage lines', () => {
  it.each([
    ['install.sh', 'usage: scripts/install.sh [--bin-dir DIR] [--conf-dir DIR]'],
    ['image.sh', 'usage: scripts/image.sh [-o FILE] [TAG]'],
  ])('scripts/%s --help', async (script, usage) => {
    const r = await execa('bash', [join(ROOT, 'scripts', script), '--help']);
    expect(r.stdout).toContain(usage);
    expect(r.stdout).not.toMatch(/^#/m);
  });
  it('node scripts/setup.mjs --help lists the packages by group', async () => {
    const r = await execa('node', [SETUP, '--help']);
    expect(r.stdout).toContain('usage: node scripts/setup.mjs [--check] [GOAL...]');
    expect(r.stdout).toContain(`  build  ${DEBS.build.join(' ')}`);
  });
});

// Found by a new user: a conf dir holding only .conflist files got the
// example written over them (an edited subnet, or the agent's conflist, lost).
describe.runIf(existsSync(join(ROOT, 'dist', 'bin', 'flatnet-cli')))('scripts/install.sh and the conf dir', () => {
  const install = (bin: string, conf: string) => execa('bash', [join(ROOT, 'scripts', 'install.sh'), '--bin-dir', bin, '--conf-dir', conf]);
  it('installs the example into an empty conf dir, and never over a config already there', async () => {
    const [bin, conf] = [join(temp(), 'bin'), join(temp(), 'net.d')];
    expect((await install(bin, conf)).stdout).toContain(`installed ${conf}/10-flatnet.conflist`);
    const mine = readFileSync(join(conf, '10-flatnet.conflist'), 'utf8').replace('10.244.1.0/24', '10.244.7.0/24');
    writeFileSync(join(conf, '10-flatnet.conflist'), mine);
    expect((await install(bin, conf)).stdout).toContain('the example was not installed');
    expect(readFileSync(join(conf, '10-flatnet.conflist'), 'utf8')).toBe(mine);
    const other = join(temp(), 'net.d');
    mkdirSync(other);
    writeFileSync(join(other, '87-podman-bridge.conflist'), '{}');
    await install(bin, other);
    expect(existsSync(join(other, '10-flatnet.conflist'))).toBe(false);
  });
});
