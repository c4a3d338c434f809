// DEL: best effort and idempotent. Succeeds when the netns or interface is
// already gone or CNI_NETNS is empty, always releases the IPAM allocation,
// and removes masquerade rules by name, so they do not leak when the netns is
// gone (the Go plugin's plugins#810); the same for macspoofchk's rules.
import { answerAs, ErrorCode } from '../src/cni/errors.ts';
import type { CmdArgs, NetConfBase } from '../src/cni/types.ts';
import { toCurrent } from '../src/cni/version.ts';
import { type Cidr, parseCidr } from '../src/net/cidr.ts';
import { mark } from '../src/profile.ts';
import { refIdOf } from '../src/sys/macspoof-nftables.ts';
import { KernelError, type Netns, type PodMasqTeardown, type PreparedBatch } from '../src/sys/kernel.ts';
import type { PluginDeps } from './deps.ts';
import { parseDelConf } from './netconf.ts';

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
  const conf = parseDelConf(raw);
  // A netns whose mount is gone (the runtime unmounted it, its file left)
  // holds no interface to delete: the lease and rules still go.
  const netns = args.netns ? answerAs(ErrorCode.InvalidEnvironmentVariables, () => k.openNetns(args.netns, { unmountedIsGone: true })) : undefined;
  // Deleting the pod end deletes its host peer too. The kernel's teardown of
  // a veth (~20 ms) runs while the lease and the masquerade are released.
  const linkDel = netns && k.prepare(netns);
  linkDel?.send([{ op: 'link-del', dev: args.ifName }]);
  let failure: unknown;
  try {
    if (conf.ipam) await (await deps.ipam(conf.ipam, raw, args)).call('DEL', args);
    mark('ipam');
    if (conf.ipMasq) k.podMasq(conf.ipMasqBackend).teardown(masqOf(k, conf.name, args, prevAddresses(raw), netns));
  } catch (e) {
    failure = e;
  }
  try {
    // Whether or not the netns is still there (Go's DEL leaves them when it is gone), and whatever failed above.
    if (conf.macSpoofChk) k.macSpoofCheck().teardown(refIdOf(args.containerId, args.ifName));
  } catch (e) {
    failure ??= e;
  }
  // Collected whatever happened above: its process must not outlive us.
  const linkFailure = linkDel ? linkGone(linkDel) : undefined;
  if (netns) k.closeNetns(netns);
  mark('link-del');
  if (failure !== undefined) throw failure;
  if (linkFailure) throw linkFailure;
}

/**
 * What the masquerade teardown knows: prevResult's addresses, and (read only
 * when they are missing or do not match the rules) the addresses of the
 * container's other interfaces in the pod's namespace: their rules share its
 * chain in iptables and must stay, as they must when this DEL cleans up after
 * an ADD that failed. A namespace that is gone took every interface with it.
 */
function masqOf(k: PluginDeps['kernel'], network: string, args: CmdArgs, addresses: Cidr[] | undefined, netns: Netns | undefined): PodMasqTeardown {
  const others = (): Cidr[] => (netns ? k.links(netns).filter((l) => l.name !== args.ifName).flatMap((l) => l.addrs.map((x) => x.cidr)) : []);
  return { network, containerId: args.containerId, ifName: args.ifName, ...(addresses ? { addresses } : {}), others };
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
