// The flatnet command line (flatnet-cli): the agent and the tools. Usage errors (an unknown command or option, a missing or bad
// value) exit 2 before anything runs; failures print one line and exit 1.
import { statSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { CniError } from '../cni/errors.ts';
import { VERSION } from '../version.ts';
import { agentCommand } from './agent.ts';
import { addCommand, checkCommand, delCommand } from './attach.ts';
import { type Command, UsageError } from './command.ts';
import { ipamCommand } from './ipam.ts';
import { statusCommand } from './status.ts';
import { versionCommand } from './version.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command's own argument type
const COMMANDS: Array<Command<any>> = [agentCommand, statusCommand, addCommand, checkCommand, delCommand, ipamCommand, versionCommand];

/** A failure as one line, with what to do where the cause is a common one. */
export function failureLine(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { details?: string };
  let line = err instanceof Error ? err.message : String(e);
  // The code is what the README's troubleshooting table is keyed on.
  if (e instanceof CniError) line += ` (CNI error ${e.code}${e.details ? `: ${e.details}` : ''})`;
  // A file or directory refused us: its permissions are the cause, not our privileges.
  if (err.code === 'EACCES' && typeof err.path === 'string') line += ` — ${permissionHint(err.path)}`;
  else if (err.code === 'EACCES' || err.code === 'EPERM' || /Operation not permitted|Permission denied/.test(line)) line += ' — flatnet needs root (or CAP_NET_ADMIN) for this';
  return line;
}

function permissionHint(path: string): string {
  try {
    const st = statSync(path);
    const kind = st.isDirectory() ? 'directory' : 'file';
    return `the ${kind} ${path} is mode ${(st.mode & 0o7777).toString(8).padStart(3, '0')} (owner uid ${st.uid}); give this user (uid ${process.getuid?.() ?? '?'}) access to it, e.g. chmod ${st.isDirectory() ? '755' : '600'} ${path}`;
  } catch {
    return `check the permissions of ${path} and of the directories above it`;
  }
}

export async function main(argv: string[]): Promise<number> {
  let selected: { cmd: Command<unknown>; args: unknown } | undefined;
  let parser: Argv = yargs(argv)
    .scriptName('flatnet')
    .usage('flatnet <command> [options]\n\nThe flatnet CNI plugin runs when CNI_COMMAND is set; without it, these commands:')
    .version(VERSION)
    .help()
    .strict()
    .demandCommand(1, 'give a command; flatnet --help lists them')
    .exitProcess(false)
    // Throwing here is what keeps yargs from running the command after a usage error.
    .fail((msg, err) => {
      throw err instanceof UsageError ? err : new UsageError(msg ?? err?.message ?? 'usage error');
    });
  for (const cmd of COMMANDS) {
    parser = parser.command(cmd.name, cmd.describe, (y) => cmd.options(y), (args) => {
      selected = { cmd, args };
    });
  }
  try {
    await parser.parseAsync();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`flatnet: ${e.message}\nRun 'flatnet --help' or 'flatnet <command> --help' for usage.\n`);
      return 2;
    }
    throw e;
  }
  if (!selected) return 0; // --help or --version, already printed
  const name = selected.cmd.name.split(' ')[0];
  try {
    return await selected.cmd.run(selected.args);
  } catch (e) {
    process.stderr.write(`flatnet ${name}: ${failureLine(e)}\n`);
    return 1;
  }
}
