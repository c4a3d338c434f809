// CHECK: what ADD made, compared against prevResult (as the Go bridge plugin):
// the bridge, the host veth on it, the container interface with its MAC,
// addresses and routes; the IPAM is checked first.
import { answerAs, CniError, ErrorCode } from '../src/cni/errors.ts';
import type { CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import { toCurrent } from '../src/cni/version.ts';
import { addrEq, type Cidr, formatCidr, networkOf, parseCidr, parseIp } from '../src/net/cidr.ts';
import type { IfName, Mac } from '../src/net/names.ts';
import type { Netns, RouteState } from '../src/sys/kernel.ts';
import { refIdOf } from '../src/sys/macspoof-nftables.ts';
import type { PluginDeps } from './deps.ts';
import { parseBridgeConf } from './netconf.ts';

const fail = (msg: string, details = ''): CniError => new CniError(ErrorCode.Internal, msg, details);
// A prevResult that does not parse is the runtime's input, not a broken pod (Go says 999 for both).
const undecodable = (msg: string): CniError => new CniError(ErrorCode.DecodingFailure, msg, 'prevResult must be the result of the ADD, as the plugin printed it');
const sameCidr = (a: Cidr, b: Cidr): boolean => addrEq(a, b) && a.prefix === b.prefix;

export async function cmdCheck(args: CmdArgs, raw: NetConfBase, deps: PluginDeps): Promise<void> {
  const conf = parseBridgeConf(raw, args.args);
  // Input is validated before anything is asked of the IPAM.
  if (raw.prevResult === undefined) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing', 'CHECK needs the ADD result as prevResult');
  const prev: Result = toCurrent(raw.prevResult, conf.cniVersion);
  if (conf.ipam) await (await deps.ipam(conf.ipam, raw, args)).call('CHECK', args);
  const netns = answerAs(ErrorCode.InvalidEnvironmentVariables, () => deps.kernel.openNetns(args.netns));
  if (!netns) throw fail(`netns ${args.netns} does not exist`);
  try {
    checkIn(args, conf, prev, netns, deps);
  } finally {
    deps.kernel.closeNetns(netns);
  }
}

function checkIn(args: CmdArgs, conf: ReturnType<typeof parseBridgeConf>, prev: Result, netns: Netns, deps: PluginDeps): void {
  const k = deps.kernel;
  const ifaces = prev.interfaces ?? [];
  const brPrev = ifaces.find((i) => i.name === conf.bridge);
  const ctrIdx = ifaces.findIndex((i) => i.name === args.ifName && i.sandbox === args.netns);
  if (!brPrev) throw fail(`prevResult has no interface named ${conf.bridge}`);
  if (ctrIdx < 0) throw fail(`prevResult has no interface ${args.ifName} in sandbox ${args.netns}`);

  const br = k.link(conf.bridge);
  if (!br || br.kind !== 'bridge') throw fail(`bridge ${conf.bridge} is missing or not a bridge`);
  if (brPrev.mac && br.mac !== brPrev.mac) throw fail(`bridge ${conf.bridge} has MAC ${br.mac}, expected ${brPrev.mac}`);
  if (conf.promiscMode !== br.promisc) throw fail(`bridge ${conf.bridge} promiscuous mode is not ${conf.promiscMode ? 'on' : 'off'}`);

  const ctr = k.link(args.ifName, netns);
  if (!ctr) throw fail(`container interface ${args.ifName} is missing from ${args.netns}`);
  if (ctr.kind !== 'veth') throw fail(`container interface ${args.ifName} is not a veth`);
  const ctrPrev = ifaces[ctrIdx]!;
  if (ctrPrev.mac && ctr.mac !== ctrPrev.mac) throw fail(`container interface ${args.ifName} has MAC ${ctr.mac}, expected ${ctrPrev.mac}`);

  const hostVeth = k.links().find((l) => l.ifindex === ctr.peerIfindex && ifaces.some((i, n) => n !== ctrIdx && i.name === l.name));
  if (!hostVeth) throw fail(`no host veth in prevResult is the peer of ${args.ifName}`);
  if (hostVeth.master !== conf.bridge) throw fail(`host veth ${hostVeth.name} is not attached to ${conf.bridge}`);
  const hvPrev = ifaces.find((i) => i.name === hostVeth.name)!;
  if (hvPrev.mac && hostVeth.mac !== hvPrev.mac) throw fail(`host veth ${hostVeth.name} has MAC ${hostVeth.mac}, expected ${hvPrev.mac}`);

  // Go's CHECK does not look at them: a pod whose rules are gone passes there, unprotected.
  if (conf.macSpoofChk) {
    const problem = k.macSpoofCheck().problem({ refId: refIdOf(args.containerId, args.ifName), hostVeth: hostVeth.name as IfName, mac: ctr.mac as Mac });
    if (problem) throw fail(`macspoofchk: ${problem}`, 'the spoof check of this pod is missing or changed; re-create the pod');
  }

  const prevIps = (prev.ips ?? []).map((ip) => ({ ip, cidr: parseCidr(ip.address) }));
  const routes: RouteState[] = [...k.routes(4, netns), ...(prevIps.some((p) => p.cidr?.family === 6) ? k.routes(6, netns) : [])];
  // Every address, whatever interface index prevResult gives it, as Go's
  // ValidateExpectedInterfaceIPs: an index is the runtime's input, and one
  // pointing elsewhere must not make a lost address pass.
  for (const { ip, cidr } of prevIps) {
    if (!cidr) throw undecodable(`prevResult address ${JSON.stringify(ip.address)} is not a CIDR`);
    if (!ctr.addrs.some((a) => sameCidr(a.cidr, cidr))) throw fail(`address ${ip.address} is missing from ${args.ifName}`, `${args.ifName} has ${ctr.addrs.map((a) => formatCidr(a.cidr)).join(', ') || 'no addresses'}`);
    const net = networkOf(cidr);
    if (!routes.some((r) => sameCidr(r.dst, net) && r.dev === args.ifName)) throw fail(`route to ${formatCidr(net)} is missing on ${args.ifName}`);
  }
  for (const r of prev.routes ?? []) {
    const dst = parseCidr(r.dst);
    const gw = r.gw ? parseIp(r.gw) : undefined;
    if (!dst || (r.gw && !gw)) throw undecodable(`prevResult route ${JSON.stringify(r)} does not parse`);
    const want = networkOf(dst);
    if (!routes.some((k2) => sameCidr(k2.dst, want) && (!gw || (k2.via !== undefined && addrEq(k2.via, gw))))) throw fail(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${args.netns}`);
  }
}
