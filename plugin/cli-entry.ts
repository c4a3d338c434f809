// The CLI behind `flatnet <subcommand>`. In the Bun build it is loaded into
// this process; the QuickJS build of flatnet (the CNI binary) replaces this
// module with one that execs flatnet-cli installed beside it.
export async function runCli(args: string[]): Promise<void> {
  const { cli } = await import('../src/cli.ts');
  process.exitCode = await cli(args);
}
