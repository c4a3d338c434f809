// The one place that starts processes. argv arrays only: nothing from the
// environment or stdin ever reaches a shell.
//
// The CNI binaries run one short command at a time, so this is a plain
// synchronous spawn. execa was the first choice, but in the compiled plugin
// it cost ~18 ms per ADD (5 ms to load, ~3 ms extra per call; measured with
// scripts/bench.mjs: ADD p50 44.5 ms with execa, 26.1 ms without), which is
// the difference between losing and matching the Go plugin. execa remains
// what the tests and scripts use.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// LC_ALL=C: the callers parse messages such as "Cannot find device".
const defaultEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C' });

export async function run(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return runSync(argv, input, env);
}

export function runSync(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): RunResult {
  const [file, ...rest] = argv;
  const r = spawnSync(file!, rest, { input: input ?? '', env: env ?? defaultEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return { exitCode: 127, stdout: '', stderr: `${file}: command not found; install it on this node` };
  }
  return { exitCode: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error.message) : '') };
}

export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(`${argv.join(' ')}: ${result.stderr.trim() || `exit status ${result.exitCode}`}`);
  }
}

export async function runOk(argv: readonly string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
  return r.stdout;
}

/**
 * Starts a process that runs alongside the synchronous spawns that follow.
 * Its input goes through an unlinked temp file, not a pipe: a pipe would only
 * be fed when the event loop runs, which the synchronous spawns prevent.
 */
export function runConcurrently(argv: readonly string[], input: string): Promise<RunResult> {
  let fd: number | undefined;
  if (input !== '') {
    const path = join(tmpdir(), `.flatnet-in-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      writeFileSync(path, input, { mode: 0o600 });
      fd = openSync(path, 'r');
    } catch {
      // No room for the temp file (a full /tmp): give up the concurrency, not the step.
      return run(argv, input);
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
    const child = spawn(file!, rest, { stdio: [fd ?? 'ignore', 'pipe', 'pipe'], env: defaultEnv() });
    if (fd !== undefined) closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (e) => resolve({ exitCode: 127, stdout, stderr: `${file}: ${e.message}` }));
    child.on('close', (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
  });
}
