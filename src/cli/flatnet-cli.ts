#!/usr/bin/env node
// flatnet-cli: the agent and the command-line tools; `flatnet <subcommand>` execs this.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
