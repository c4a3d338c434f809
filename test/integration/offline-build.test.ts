// After `npm install`, the build needs no network: QuickJS's source came with
// node_modules (the qjsc devDependency), and nothing else is fetched. A copy
// of the repo with the installed node_modules (hard links, without the build
// cache, so QuickJS is compiled from scratch) runs `npm run build` inside a
// fresh network namespace of its own (only a loopback, so nothing is
// reachable) with the npm registry pointed at a closed local port.
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { ROOT, tempDir } from '../helpers/plugin.ts';

const ready = isRoot() && existsSync(join(ROOT, 'node_modules', 'qjsc'));

describe.runIf(ready)('the build with the registry unreachable, after npm install', () => {
  let dir: ReturnType<typeof tempDir>;
  let ns: Netns;
  let repo: string;
  // No proxy, a registry nobody answers on, and no route anywhere.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/proxy/i.test(k) && !/^npm_/i.test(k)) env[k] = v;
  Object.assign(env, { npm_config_registry: 'http://127.0.0.1:9/', npm_config_fetch_retries: '0', npm_config_update_notifier: 'false', FLATNET_SETUP: 'check' });
  const offline = (argv: string[]) => execa('ip', ['netns', 'exec', ns.name, ...argv], { cwd: repo, env, extendEnv: false, reject: false, all: true });

  beforeAll(async () => {
    dir = tempDir('fnt-offline');
    ns = await createNetns('offline');
    await execa('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    repo = join(dir.path, 'flatnet');
    const skip = new Set(['node_modules', 'dist', '.git']);
    for (const e of readdirSync(ROOT)) if (!skip.has(e)) cpSync(join(ROOT, e), join(repo, e), { recursive: true });
    // Hard links: the build writes only to dist/ and node_modules/.cache,
    // which the copy gets fresh.
    await execa('cp', ['-al', join(ROOT, 'node_modules'), join(repo, 'node_modules')]);
    rmSync(join(repo, 'node_modules', '.cache'), { recursive: true, force: true });
  }, 120_000);
  afterAll(async () => {
    await deleteAllNetns();
    dir?.remove();
  }, 60_000);

  it('the registry is really unreachable in there', async () => {
    const r = await offline(['npm', 'view', 'qjsc@0.3.0', 'version']);
    expect(r.exitCode).not.toBe(0);
  }, 120_000);

  it('npm run build compiles QuickJS from node_modules and links the binaries', async () => {
    const r = await offline(['npm', 'run', 'build']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('compiling QuickJS 2021-03-27 from node_modules/qjsc');
    for (const b of ['flatnet', 'flatnet-ipam', 'flatnet-cli']) expect(existsSync(join(repo, 'dist', 'bin', b)), b).toBe(true);
    const v = await execa(join(repo, 'dist', 'bin', 'flatnet'), [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', reject: false });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).supportedVersions).toContain('1.1.0');
  }, 600_000);
});
