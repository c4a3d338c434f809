#!/usr/bin/env node
// flatnet: bridge CNI plugin. The CNI protocol when CNI_COMMAND is set.
import { runPlugin } from '../src/cni/skel.ts';
import { VERSION } from '../src/version.ts';
import { pluginFuncs } from './funcs.ts';

void runPlugin(pluginFuncs, `CNI flatnet plugin v${VERSION}`);
