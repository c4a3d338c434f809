#!/usr/bin/env node
// flatnet: bridge CNI plugin when CNI_COMMAND is set; the CLI (agent, status,
// version) when it is not and arguments are given.
import { runPlugin } from '../src/cni/skel.ts';
import { VERSION } from '../src/version.ts';
import { runCli } from './cli-entry.ts';
import { pluginFuncs } from './funcs.ts';

const args = process.argv.slice(2);
if (!process.env.CNI_COMMAND && args.length > 0) {
  void runCli(args);
} else {
  void runPlugin(pluginFuncs, `CNI flatnet plugin v${VERSION}`);
}
