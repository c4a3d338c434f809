// How the bridge plugin reaches its IPAM: our own flatnet-ipam in-process when
// the one found on CNI_PATH is the binary installed beside us (same code, one
// process fewer per pod), any other plugin by exec as the spec says.
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { delegate, findPlugin } from '../src/cni/delegate.ts';
import { platform } from '../src/platform/index.ts';
import type { IpamCall, IpamPreflight } from './deps.ts';

const OURS = 'flatnet-ipam';

/** True when `path` is the same file as flatnet-ipam shipped beside the running executable. */
function isOurs(path: string): boolean {
  const exe = platform.builtExecutable();
  if (!exe) return false;
  try {
    return realpathSync(path) === realpathSync(join(dirname(exe), OURS));
  } catch {
    return false;
  }
}

const inProcess = (type: string, path: string): boolean => type === OURS && isOurs(path);

export const ipamCall: IpamCall = async (command, ipam, args) => {
  const path = findPlugin(ipam.type, args.path);
  if (inProcess(ipam.type, path)) {
    const { invoke } = await import('../src/cni/skel.ts');
    const { ipamFuncs } = await import('../ipam/commands.ts');
    return invoke(ipamFuncs(), { ...args, command, env: { ...args.env, CNI_COMMAND: command } });
  }
  return delegate(command, path, args, ipam.cniVersion);
};

/** Our own IPAM's config is pure to check; anything exec'd is checked only by running it. */
export const ipamPreflight: IpamPreflight = async (ipam, args) => {
  if (!inProcess(ipam.type, findPlugin(ipam.type, args.path))) return false;
  const { parseIpamConfig } = await import('../ipam/config.ts');
  parseIpamConfig(JSON.parse(args.stdin) as Record<string, unknown>, args.args);
  return true;
};
