// The QuickJS platform layer (src/platform/quickjs) under QuickJS itself:
// Node-compatible error codes, process spawning (large input and output, a
// child that ignores its input, concurrency), hashing and timers. The CNI
// binaries rely on each of these; the other integration tests reach them only
// indirectly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs build script
import { buildQuickjs } from '../../scripts/build.mjs';

describe('QuickJS platform shims', () => {
  let work: string;
  let out: Record<string, any>;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fnq-'));
    const exe = join(work, 'check');
    await buildQuickjs('test/fixtures/quickjs-platform-check.ts', exe);
    const data = join(work, 'data');
    execFileSync('mkdir', [data]);
    out = JSON.parse(execFileSync(exe, { env: { ...process.env, CHECK_DIR: data }, encoding: 'utf8' }));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reports filesystem errors with the codes Node uses', () => {
    expect(out).toMatchObject({ readMissing: 'ENOENT', writeExclusive: 'EEXIST', linkExisting: 'EEXIST', mkdirExisting: 'EEXIST', unlinkMissing: 'ENOENT', killMissing: 'ESRCH' });
  });
  it('reads and writes UTF-8, links, renames, makes and lists directories', () => {
    expect(out.readBack).toBe('héllo\n');
    expect(out.mode).toBe(true);
    expect(out.entries).toEqual(['a:f', 'c:f', 'd:d']);
    expect(out.realpath).toMatch(/\/data\/d\/e\/f$/);
    expect(out.nsfsMagic).toBe('6e736673');
    expect(out.path).toEqual(['/b/c', 'a/b/', '/x', '.', 'y']); // as node:path.posix
  });
  it('runs processes with input, output, exit codes and the C locale', () => {
    expect(out.run).toEqual({ exitCode: 3, stdout: 'in\n', stderr: 'err\n' });
    expect(out.notFound).toBe(127);
    expect(out.unreadInput).toBe(0);
    expect(out.bigOutput).toBe(5_000_000);
    expect(out.echoBack).toBe(300_000);
    expect(out.envPassed).toBe('C');
  });
  it('starts a concurrent process without waiting, and collects it when awaited', () => {
    expect(out.concurrent).toBe('saw it');
    expect(out.timer).toBe(true);
  });
  it('hashes with SHA-512 and draws random bytes', () => {
    expect(out.sha512).toBe('ddaf35a193617aba');
    expect(out.randomLength).toBe(6);
  });
});
