// How the agent's conflist lands in the conf dir that containerd watches
// (fsnotify, non-recursive): only the finished file ever appears there, never
// a temporary name, and a change ends with an event containerd reloads on.
import { type FSWatcher, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeIfChanged } from '../../src/agent/cni-config.ts';
import { STAGING_DIR } from '../../src/sys/publish-file.ts';

const FILE = '10-flatnet.conflist';
let dir: string;
let watcher: FSWatcher | undefined;
afterEach(() => {
  watcher?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every (event, name) an inotify watch on `d` reports while `fn` runs, once the events have arrived. */
async function eventsDuring(d: string, fn: () => void): Promise<string[]> {
  const seen: string[] = [];
  watcher = watch(d, (event, name) => seen.push(`${event} ${name}`));
  fn();
  await new Promise((r) => setTimeout(r, 200));
  watcher.close();
  return seen;
}

describe("the agent's conflist in a watched conf dir", () => {
  // Found on a real cluster: containerd reloaded on the temp file's WRITE and
  // logged "failed to reload cni configuration" on every node at start.
  it('the conf dir sees only the finished file appear: no temporary name, on the first write and on a change', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fnt-confdir-'));
    const first = await eventsDuring(dir, () => writeIfChanged(dir, FILE, '{"v":1}\n'));
    // The staging directory is made once (libcni skips directories, containerd ignores a create).
    expect(new Set(first.map((e) => e.split(' ')[1]))).toEqual(new Set([STAGING_DIR, FILE]));
    expect(lstatSync(join(dir, STAGING_DIR)).isDirectory()).toBe(true);
    const change = await eventsDuring(dir, () => writeIfChanged(dir, FILE, '{"v":2}\n'));
    expect(new Set(change.map((e) => e.split(' ')[1]))).toEqual(new Set([FILE]));
    // The last event is a change of the final file: a rename into the
    // directory is a Create to fsnotify, which containerd ignores.
    expect(change.at(-1)).toBe(`change ${FILE}`);
    expect(readFileSync(join(dir, FILE), 'utf8')).toBe('{"v":2}\n');
    expect(readdirSync(join(dir, STAGING_DIR))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([STAGING_DIR, FILE].sort());
  });

  it('a symlink planted as the staging directory is removed, never followed', () => {
    dir = mkdtempSync(join(tmpdir(), 'fnt-confdir-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'fnt-elsewhere-'));
    try {
      symlinkSync(elsewhere, join(dir, STAGING_DIR));
      writeIfChanged(dir, FILE, '{"v":1}\n');
      expect(lstatSync(join(dir, STAGING_DIR)).isDirectory()).toBe(true);
      expect(readdirSync(elsewhere)).toEqual([]);
      expect(readFileSync(join(dir, FILE), 'utf8')).toBe('{"v":1}\n');
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
