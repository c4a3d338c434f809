#!/usr/bin/env node
// flatnet-cli: the agent and the command-line tools; `flatnet <subcommand>` execs this.
import { main } from './main.ts';

// `flatnet status | head -1`: a reader that has gone is no failure of ours.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
