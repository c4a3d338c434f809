// Starting processes on Node/Bun. The QuickJS build replaces this module with
// src/platform/quickjs/spawn.ts (posix_spawn through flatnet_sys): the two
// export the same functions, and exec.ts builds everything else on them.
//
// The CNI binaries run one short command at a time, so this is a plain
// synchronous spawn. execa was the first choice, but in the compiled plugin
// it cost ~18 ms per ADD (5 ms to load, ~3 ms extra per call; measured with
// scripts/bench.mjs: ADD p50 44.5 ms with execa, 26.1 ms without). execa
// remains what the tests and scripts use.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandNotFound, type RunResult } from './exec.ts';

export function spawnAndWait(argv: readonly string[], input: string, env: NodeJS.ProcessEnv): RunResult {
  const [file, ...rest] = argv;
  const r = spawnSync(file!, rest, { input, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return commandNotFound(file!);
  return { exitCode: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error.message) : '') };
}

/**
 * Starts a process that runs alongside the synchronous spawns that follow.
 * Its input goes through an unlinked temp file, not a pipe: a pipe would only
 * be fed when the event loop runs, which the synchronous spawns prevent.
 */
export function spawnConcurrently(argv: readonly string[], input: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  let fd: number | undefined;
  if (input !== '') {
    const path = join(tmpdir(), `.flatnet-in-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      writeFileSync(path, input, { mode: 0o600 });
      fd = openSync(path, 'r');
    } catch {
      // No room for the temp file (a full /tmp): give up the concurrency, not the step.
      return Promise.resolve(spawnAndWait(argv, input, env));
    } finally {
      try {
        unlinkSync(path);
      } catch {
        // never created
      }
    }
  }
  const [file, ...rest] = argv;
  return new Promise((resolve) => {
    const child = spawn(file!, rest, { stdio: [fd ?? 'ignore', 'pipe', 'pipe'], env });
    if (fd !== undefined) closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (e) => resolve({ exitCode: 127, stdout, stderr: `${file}: ${e.message}` }));
    child.on('close', (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
  });
}
