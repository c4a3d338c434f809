// plugin/cli-entry.ts for QuickJS. The CNI binary stays small (no yargs, no
// Kubernetes client): `flatnet <subcommand>` becomes flatnet-cli, the Bun
// build installed beside it, by execv so signals and exit codes are its own.
import * as sys from 'flatnet_sys';
import { dirname, join } from './path.ts';

export async function runCli(args: string[]): Promise<void> {
  const cli = join(dirname(process.execPath), 'flatnet-cli');
  const err = sys.execv(cli, ['flatnet', ...args]);
  process.stderr.write(`flatnet: cannot run ${cli} (${sys.errnoName(err)}): the CLI and agent ship as flatnet-cli beside flatnet; install both (scripts/install.sh)\n`);
  process.exit(1);
}
