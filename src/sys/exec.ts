// The one place that starts processes. argv arrays only: nothing from the
// environment or stdin ever reaches a shell. How a process is started is the
// platform's (spawn.ts); results, errors and the environment are decided here.
import { spawnAndWait, spawnConcurrently } from './spawn.ts';

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
  return spawnAndWait(argv, input ?? '', env ?? defaultEnv());
}

/** What either platform's spawn reports for a program that is not installed. */
export function commandNotFound(file: string): RunResult {
  return { exitCode: 127, stdout: '', stderr: `${file}: command not found; install it on this node` };
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

/** Starts argv now; the caller goes on with synchronous work and awaits the result later. */
export const runConcurrently = (argv: readonly string[], input: string): Promise<RunResult> => spawnConcurrently(argv, input, defaultEnv());
