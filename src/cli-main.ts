#!/usr/bin/env node
// flatnet-cli: the agent and the command-line tools (status, ipam, add/del,
// version). `flatnet <subcommand>` execs this.
import { runCli } from '../plugin/cli-entry.ts';

void runCli(process.argv.slice(2));
