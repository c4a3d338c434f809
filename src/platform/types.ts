// What flatnet needs from the runtime it runs on, and nothing more. Two
// implementations: node/ (Node for tests and scripts, Bun for flatnet-cli)
// and quickjs/ (the CNI binaries). The build picks one; shared code never
// asks which runtime it is on.

export type Env = Record<string, string | undefined>;

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Platform {
  /** Runs argv to completion (blocking), stdin fed from `input`, output captured. */
  run(argv: readonly string[], input: string, env: Env): RunResult;
  /** Starts argv now; the result is collected when awaited, so the caller can work meanwhile. */
  start(argv: readonly string[], input: string, env: Env): Promise<RunResult>;
  /** flock(2); throws when the platform cannot lock across processes. */
  flock(fd: number, op: 'exclusive' | 'unlock'): void;
  /** Moves this thread into the network namespace open at `fd`; throws on failure. */
  setNetns(fd: number): void;
  /**
   * All of stdin as UTF-8, reading no more than maxBytes + 1: beyond the bound
   * it throws an error with code 'EFBIG' without reading the rest.
   */
  readStdin(maxBytes: number): string;
  /** This process's pid. */
  pid(): number;
  /** The built flatnet executable running now; undefined when running from source. */
  builtExecutable(): string | undefined;
  /** `flatnet <subcommand>`: hands the command line to flatnet-cli and never returns. */
  handOffToCli(args: string[]): never;
}

/** What either platform reports for a program that is not installed. */
export function commandNotFound(file: string): RunResult {
  return { exitCode: 127, stdout: '', stderr: `${file}: command not found; install it on this node` };
}
