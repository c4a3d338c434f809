// How the bridge plugin reaches its IPAM: our own flatnet-ipam in-process when
// the one found on CNI_PATH is the binary installed beside us (same code, one
// process fewer per pod, the config parsed once through its typed entry),
// any other plugin by exec as the spec says.
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { validAttachments } from '../src/cni/attachments.ts';
import { delegate, findPlugin } from '../src/cni/delegate.ts';
import { platform } from '../src/platform/index.ts';
import type { OpenIpam } from './deps.ts';

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

export const openIpam: OpenIpam = async (target, conf, args) => {
  const path = findPlugin(target.type, args.path);
  if (target.type === OURS && isOurs(path)) {
    const { parseIpamConfig } = await import('../ipam/config.ts');
    const { runIpamVerb } = await import('../ipam/commands.ts');
    const cfg = parseIpamConfig(conf, args.args);
    return { call: (command, a) => runIpamVerb(command, cfg, a, () => validAttachments(conf)) };
  }
  return { call: async (command, a) => delegate(command, path, a, target.cniVersion) };
};
