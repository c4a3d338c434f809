// The one place that starts processes. argv arrays only: nothing from the
// environment or stdin ever reaches a shell. execa is loaded on first use.
import type { ExecaMethod } from 'execa';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let execaFn: ExecaMethod | undefined;

export async function run(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  execaFn ??= (await import('execa')).execa;
  const [file, ...rest] = argv;
  const r = await execaFn(file!, rest, { input: input ?? '', reject: false, stripFinalNewline: false, env: env ?? { LC_ALL: 'C' }, extendEnv: env === undefined });
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
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
