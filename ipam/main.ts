#!/usr/bin/env node
// flatnet-ipam: host-local compatible IPAM plugin.
import { runPlugin } from '../src/cni/skel.ts';
import { ipamFuncs } from './commands.ts';
import { VERSION } from '../src/version.ts';

void runPlugin(ipamFuncs(), `CNI flatnet-ipam plugin v${VERSION}`);
