// The one place that starts processes. argv arrays only: nothing from the
// environment or stdin ever reaches a shell.
//
// The CNI binaries run one short command at a time, so this is a plain
// synchronous spawn. execa was the first choice, but in the compiled plugin
// it cost ~18 ms per ADD (5 ms to load, ~3 ms extra per call; measured with
// scripts/bench.mjs: ADD p50 44.5 ms with execa, 26.1 ms without), which is
// the difference between losing and matching the Go plugin. execa remains
// what the tests and scripts use.
import { spawnSync } from 'node:child_process';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const [file, ...rest] = argv;
  const r = spawnSync(file!, rest, { input: input ?? '', env: env ?? { ...process.env, LC_ALL: 'C' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
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
