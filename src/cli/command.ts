// What every CLI command is: yargs options, and a run that returns an exit code.
import type { Argv } from 'yargs';

/** A usage error: nothing has run; exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Command<A> {
  /** yargs command string, e.g. 'status' or 'ipam <action>'. */
  name: string;
  describe: string;
  options(y: Argv): Argv<A>;
  /** Runs the command; returns the exit code (0 ok, 1 failed). */
  run(a: A): Promise<number>;
}

/** Writes one line to stderr: the CLI's way to report a failure. */
export const fail = (cmd: string, msg: string): number => {
  process.stderr.write(`flatnet ${cmd}: ${msg}\n`);
  return 1;
};

export const DEFAULT_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CONF_FILE = '10-flatnet.conflist';
