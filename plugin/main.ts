#!/usr/bin/env node
// flatnet: the bridge CNI plugin when CNI_COMMAND is set; `flatnet
// <subcommand>` (agent, status, add, …) is flatnet-cli's.
import { runPlugin } from '../src/cni/skel.ts';
import { platform } from '../src/platform/index.ts';
import { VERSION } from '../src/version.ts';
import { pluginFuncs, realDeps } from './funcs.ts';

const args = process.argv.slice(2);
if (!process.env.CNI_COMMAND && args.length > 0) platform.handOffToCli(args);
else void runPlugin(pluginFuncs(realDeps()), `CNI flatnet plugin v${VERSION}\nflatnet --help lists the commands (status, agent, add, check, del, ipam).`);
