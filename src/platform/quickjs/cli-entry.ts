// plugin/cli-entry.ts for QuickJS. The CNI binary stays small (no yargs, no
// Kubernetes client): `flatnet <subcommand>` becomes flatnet-cli, the Bun
// build, by execv so signals and exit codes are its own. It is looked for
// beside this binary, then on PATH.
import * as sys from 'flatnet_sys';
import { dirname, join } from './path.ts';

export async function runCli(args: string[]): Promise<void> {
  const argv = ['flatnet', ...args];
  sys.execv(join(dirname(process.execPath), 'flatnet-cli'), argv);
  const err = sys.execv('flatnet-cli', argv);
  process.stderr.write(`flatnet: cannot run flatnet-cli (${sys.errnoName(err)}): the CLI and agent ship as flatnet-cli; install it beside flatnet or on PATH (scripts/install.sh)\n`);
  process.exit(1);
}
