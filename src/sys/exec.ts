// The one place that starts processes. argv arrays only: nothing from the
// environment or stdin ever reaches a shell. How a process is started is the
// platform's; results, errors and the environment are decided here.
import { type PipedRun, platform, type RunResult } from '../platform/index.ts';

export type { PipedRun, RunResult };

// LC_ALL=C: the callers parse messages such as "Cannot find device".
const defaultEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C' });

/** Runs argv to completion; blocks. */
export function run(argv: readonly string[], input = '', env: NodeJS.ProcessEnv = defaultEnv()): RunResult {
  return platform.run(argv, input, env);
}

/** Starts argv now; the caller goes on with synchronous work and awaits the result later. */
export function start(argv: readonly string[], input = '', env: NodeJS.ProcessEnv = defaultEnv()): Promise<RunResult> {
  return platform.start(argv, input, env);
}

/** Starts argv now with stdin open; write its input later, then finish(). */
export function startPiped(argv: readonly string[], env: NodeJS.ProcessEnv = defaultEnv()): PipedRun {
  return platform.startPiped(argv, env);
}

export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(`${argv.join(' ')}: ${result.stderr.trim() || `exit status ${result.exitCode}`}`);
    this.name = 'ExecError';
  }
}

