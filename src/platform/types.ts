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

/** A link as libc's getifaddrs and ethtool see it: no process, and right in any namespace. */
export interface LinkSummary {
  ifindex: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: operationally up (carrier). */
  running: boolean;
  /** IFF_PROMISC. */
  promisc: boolean;
  mac: string;
  /** The kernel driver ('bridge', 'veth'), when ethtool answers. */
  driver?: string;
  /** The MAC was set explicitly (addr_assign_type 3): a bridge keeps it as ports come and go. Undefined when unknown. */
  macSet?: boolean;
  addrs: Array<{ family: 4 | 6; address: string; prefixlen: number }>;
}

/** A process started before its input is known: fed later, then collected. */
export interface PipedRun {
  /** Appends to its stdin. */
  write(data: string): void;
  /** Ends its stdin and waits for it (blocking). */
  finish(): RunResult;
}

export interface Platform {
  /** Runs argv to completion (blocking), stdin fed from `input`, output captured. */
  run(argv: readonly string[], input: string, env: Env): RunResult;
  /** Starts argv now; the result is collected when awaited, so the caller can work meanwhile. */
  start(argv: readonly string[], input: string, env: Env): Promise<RunResult>;
  /**
   * Starts argv now with its stdin left open: its start-up overlaps whatever
   * the caller does before it writes the input. (Where the platform cannot,
   * it runs at finish() with the same result.)
   */
  startPiped(argv: readonly string[], env: Env): PipedRun;
  /** flock(2); throws when the platform cannot lock across processes. */
  flock(fd: number, op: 'exclusive' | 'unlock'): void;
  /** An exclusive flock(2) taken within timeoutMs; false when another holder kept it that long. */
  flockWithin(fd: number, timeoutMs: number): boolean;
  /** Moves this thread into the network namespace open at `fd`; throws on failure. */
  setNetns(fd: number): void;
  /**
   * All of stdin as UTF-8, reading no more than maxBytes + 1: beyond the bound
   * it throws an error with code 'EFBIG' without reading the rest.
   */
  readStdin(maxBytes: number): string;
  /**
   * A link of this thread's namespace, read without starting a process;
   * undefined when there is none; null when this platform cannot tell
   * (callers then ask `ip`).
   */
  linkSummary(name: string): LinkSummary | undefined | null;
  /**
   * Every regular file of a directory (symlinks not followed) with its
   * content, each read whole up to maxBytes; one that cannot be read comes
   * with the error code instead (EFBIG: larger than maxBytes; EACCES, …).
   * Throws a Node-style error (code ENOENT, …) when the directory cannot be read.
   */
  readDirFiles(dir: string, maxBytes: number): DirFile[];
  /**
   * A file holding `content` in `dir` with no name yet (O_TMPFILE), open at
   * the fd returned; undefined where the platform or filesystem has none.
   * linkUnnamed names it, as often as needed; close the fd when done. A
   * process killed before leaves nothing behind.
   */
  unnamedFile(dir: string, content: string, mode: number): number | undefined;
  /** Gives the file of unnamedFile the name `path`; a Node-style error (code EEXIST, …) when it cannot. */
  linkUnnamed(fd: number, path: string): void;
  /** Milliseconds on a monotonic clock, for profiles. */
  now(): number;
  /** This process's pid. */
  pid(): number;
  /** The built flatnet executable running now; undefined when running from source. */
  builtExecutable(): string | undefined;
  /** `flatnet <subcommand>`: hands the command line to flatnet-cli and never returns. */
  handOffToCli(args: string[]): never;
}

/** A file of readDirFiles: its content, or why it could not be read (a Node error code). */
export type DirFile = { name: string; content: string } | { name: string; error: string };

/** What either platform reports for a program that is not installed. */
export function commandNotFound(file: string): RunResult {
  return { exitCode: 127, stdout: '', stderr: `${file}: command not found; install it on this node` };
}
