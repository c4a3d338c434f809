// How the bridge plugin reaches its IPAM: our own flatnet-ipam in-process when
// it is the one installed beside us, any other plugin by exec.
import { delegate } from '../src/cni/delegate.ts';
import type { CmdArgs, Result } from '../src/cni/types.ts';

const inProcess = { type: 'flatnet-ipam', funcs: async () => (await import('../ipam/commands.ts')).ipamFuncs() };

export const ipamCall = (command: string, type: string, args: CmdArgs): Promise<Result | undefined> => delegate(command, type, args, { inProcess });
