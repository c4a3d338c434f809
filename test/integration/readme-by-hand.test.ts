// README's "Run it by hand" block, run as written but for three names: the
// two namespaces get test-owned names (fnt-…), /opt/cni/bin is dist/bin, and
// manual-add.json's IPAM store (/run/flatnet-demo) lives in a temp dir. The
// block must leave the pod configured by ADD and, by its last line, nothing
// behind: no namespace, no IPAM store, no bridge outside the node namespace.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { BIN_DIR, ROOT, tempDir } from '../helpers/plugin.ts';

/** The first indented block of a README section, continuation lines joined. */
function readmeBlock(readme: string, heading: string): string[] {
  const start = readme.indexOf(`## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${heading}`);
  const lines = readme.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('    '));
  const block: string[] = [];
  for (const l of lines.slice(first)) {
    if (!l.startsWith('    ')) break;
    block.push(l.slice(4));
  }
  return block.join('\n').replace(/\\\n\s*/g, '').split('\n');
}

describe.runIf(isRoot())("README's by-hand CNI example", () => {
  const tag = `fnt-${randomBytes(3).toString('hex')}`;
  const names = { node: `${tag}-node`, pod1: `${tag}-pod1` };
  let dir: ReturnType<typeof tempDir>;
  let lines: string[];
  const sh = (script: string) => execa('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir.path, reject: false, all: true });
  const nsList = async () => (await execa('ip', ['netns', 'list'])).stdout;
  const rootHasDemoBridge = async () => (await execa('ip', ['link', 'show', 'fn-demo0'], { reject: false })).exitCode === 0;
  let demoBridgeBefore: boolean;

  beforeAll(async () => {
    dir = tempDir('fnt-readme');
    const store = join(dir.path, 'run', 'flatnet-demo');
    const conf = readFileSync(join(ROOT, 'conf', 'manual-add.json'), 'utf8');
    expect(conf).toContain('/run/flatnet-demo/');
    writeFileSync(join(dir.path, 'manual-add.json'), conf.replaceAll('/run/flatnet-demo', store));
    lines = readmeBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'Run it by hand (the CNI way)').map((l) =>
      l
        .replaceAll('/opt/cni/bin', BIN_DIR)
        .replaceAll('conf/manual-add.json', join(dir.path, 'manual-add.json'))
        .replaceAll('/run/flatnet-demo', store)
        .replace(/\b(ip netns (?:add|exec|del)|ip -n) (node|pod1)\b/g, (_, cmd: string, n: 'node' | 'pod1') => `${cmd} ${names[n]}`)
        .replaceAll('/var/run/netns/pod1', `/var/run/netns/${names.pod1}`),
    );
    demoBridgeBefore = await rootHasDemoBridge();
  });
  afterAll(async () => {
    for (const n of Object.values(names)) await execa('ip', ['netns', 'del', n], { reject: false });
    dir?.remove();
  });

  it('ADD configures the pod, with the bridge inside the node namespace', async () => {
    // Everything up to the DEL.
    const upTo = lines.findIndex((l) => l.includes('CNI_COMMAND=DEL'));
    expect(upTo).toBeGreaterThan(0);
    const r = await sh(lines.slice(0, upTo).join('\n'));
    lines = lines.slice(upTo);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/"address": "10\.99\.0\.\d+\/24"/);
    // (the plugin's JSON ends without a newline, so `ip` continues its line)
    expect(r.stdout).toMatch(/eth0@\S+\s+UP\s+10\.99\.0\.\d+\/24/);
    expect((await execa('ip', ['-n', names.node, 'link', 'show', 'fn-demo0'], { reject: false })).exitCode).toBe(0);
    expect(await rootHasDemoBridge()).toBe(demoBridgeBefore);
  });

  it('DEL and the last line leave nothing behind', async () => {
    const r = await sh(lines.join('\n'));
    expect(r.exitCode, r.all).toBe(0);
    const ns = await nsList();
    for (const n of Object.values(names)) expect(ns).not.toContain(n);
    expect(existsSync(join(dir.path, 'run', 'flatnet-demo'))).toBe(false);
    expect(await rootHasDemoBridge()).toBe(demoBridgeBefore);
  });
});
