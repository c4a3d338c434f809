// DEL: best effort and idempotent. Succeeds when the netns or interface is
// already gone or CNI_NETNS is empty, always releases the IPAM allocation,
// and removes masquerade rules by name, so they do not leak when the netns is
// gone (the Go plugin's plugins#810).
import type { CmdArgs, NetConfBase } from '../src/cni/types.ts';
import { toCurrent } from '../src/cni/version.ts';
import { type Cidr, parseCidr } from '../src/net/cidr.ts';
import { mark } from '../src/profile.ts';
import { KernelError, type PreparedBatch } from '../src/sys/kernel.ts';
import type { PluginDeps } from './deps.ts';
import { parseBridgeConf } from './netconf.ts';

/** prevResult's addresses, parsed; undefined when there is none or it does not parse (then rules are found by name). */
export function prevAddresses(raw: NetConfBase): Cidr[] | undefined {
  try {
    if (raw.prevResult === undefined) return undefined;
    const addrs = (toCurrent(raw.prevResult, raw.cniVersion).ips ?? []).map((ip) => parseCidr(ip.address));
    return addrs.every((a) => a !== undefined) ? (addrs as Cidr[]) : undefined;
  } catch {
    return undefined;
  }
}

export async function cmdDel(args: CmdArgs, raw: NetConfBase, deps: PluginDeps): Promise<void> {
  const k = deps.kernel;
  const conf = parseBridgeConf(raw, args.args);
  // A netns whose mount is gone (the runtime unmounted it, its file left)
  // holds no interface to delete: the lease and rules still go.
  const netns = args.netns ? k.openNetns(args.netns, { unmountedIsGone: true }) : undefined;
  // Deleting the pod end deletes its host peer too. The kernel's teardown of
  // a veth (~20 ms) runs while the lease and the masquerade are released.
  const linkDel = netns && k.prepare(netns);
  linkDel?.send([{ op: 'link-del', dev: args.ifName }]);
  let failure: unknown;
  try {
    if (conf.ipam) await deps.ipam('DEL', conf.ipam, args);
    mark('ipam');
    if (conf.ipMasq) k.podMasq(conf.ipMasqBackend).teardown({ network: conf.name, containerId: args.containerId, ifName: args.ifName, addresses: prevAddresses(raw) });
  } catch (e) {
    failure = e;
  }
  // Collected whatever happened above: its process must not outlive us.
  const linkFailure = linkDel ? linkGone(linkDel) : undefined;
  if (netns) k.closeNetns(netns);
  mark('link-del');
  if (failure !== undefined) throw failure;
  if (linkFailure) throw linkFailure;
}

/** The link delete's outcome: undefined when the link is gone (or was never there), else its error. */
function linkGone(b: PreparedBatch): Error | undefined {
  try {
    b.result();
    return undefined;
  } catch (e) {
    return e instanceof KernelError && e.failure === 'not-found' ? undefined : (e as Error);
  }
}
