// DEL: best effort and idempotent. Succeeds when the netns or interface is
// already gone or CNI_NETNS is empty, always releases the IPAM allocation,
// and removes masquerade rules by name, so they do not leak when the netns is
// gone (the Go plugin's plugins#810).
import type { CmdArgs, NetConfBase } from '../src/cni/types.ts';
import { toCurrent } from '../src/cni/version.ts';
import { deleteLink } from '../src/sys/ip.ts';
import { teardownMasq } from '../src/sys/ipmasq.ts';
import { netnsState } from '../src/sys/netns.ts';
import { ipamCall } from './ipam.ts';
import { parseBridgeConf } from './netconf.ts';

// prevResult is optional on DEL and may be of any version; it only speeds things up.
function prevAddresses(raw: NetConfBase): string[] | undefined {
  try {
    return raw.prevResult === undefined ? undefined : toCurrent(raw.prevResult, raw.cniVersion).ips?.map((ip) => ip.address);
  } catch {
    return undefined;
  }
}

export async function cmdDel(args: CmdArgs, raw: NetConfBase): Promise<void> {
  const conf = parseBridgeConf(raw, args.args);
  if (args.netns && netnsState(args.netns) === 'ok') await deleteLink(args.ifName, args.netns);
  if (conf.ipamType) await ipamCall('DEL', conf.ipamType, args);
  if (conf.ipMasq) await teardownMasq(conf.name, args.containerId, prevAddresses(raw));
}
