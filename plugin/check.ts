// CHECK: what ADD made, compared against prevResult (as the Go bridge plugin):
// the bridge, the host veth on it, the container interface with its MAC,
// addresses and routes; the IPAM is checked first.
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import type { CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import { toCurrent } from '../src/cni/version.ts';
import { familyOf, isDefaultRoute, networkOf, parseCidr, formatCidr } from '../src/net/cidr.ts';
import { listLinks, listRoutes, showLink } from '../src/sys/ip.ts';
import { netnsState } from '../src/sys/netns.ts';
import { ipamCall } from './ipam.ts';
import { parseBridgeConf } from './netconf.ts';

const fail = (msg: string, details = ''): CniError => new CniError(ErrorCode.Internal, msg, details);

export async function cmdCheck(args: CmdArgs, raw: NetConfBase): Promise<void> {
  const conf = parseBridgeConf(raw, args.args);
  // Input is validated before anything is asked of the IPAM.
  if (raw.prevResult === undefined) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing', 'CHECK needs the ADD result as prevResult');
  const prev: Result = toCurrent(raw.prevResult, conf.cniVersion);
  if (conf.ipamType) await ipamCall('CHECK', conf.ipamType, args);
  if (netnsState(args.netns) === 'missing') throw fail(`netns ${args.netns} does not exist`);

  const ifaces = prev.interfaces ?? [];
  const brPrev = ifaces.find((i) => i.name === conf.bridge);
  const ctrIdx = ifaces.findIndex((i) => i.name === args.ifName && i.sandbox === args.netns);
  if (!brPrev) throw fail(`prevResult has no interface named ${conf.bridge}`);
  if (ctrIdx < 0) throw fail(`prevResult has no interface ${args.ifName} in sandbox ${args.netns}`);

  const br = await showLink(conf.bridge);
  if (!br || br.linkinfo?.info_kind !== 'bridge') throw fail(`bridge ${conf.bridge} is missing or not a bridge`);
  if (brPrev.mac && br.address !== brPrev.mac) throw fail(`bridge ${conf.bridge} has MAC ${br.address}, expected ${brPrev.mac}`);
  if (conf.promiscMode !== (br.flags ?? []).includes('PROMISC')) throw fail(`bridge ${conf.bridge} promiscuous mode is not ${conf.promiscMode ? 'on' : 'off'}`);

  const ctr = await showLink(args.ifName, args.netns);
  if (!ctr) throw fail(`container interface ${args.ifName} is missing from ${args.netns}`);
  if (ctr.linkinfo?.info_kind !== 'veth') throw fail(`container interface ${args.ifName} is not a veth`);
  const ctrPrev = ifaces[ctrIdx]!;
  if (ctrPrev.mac && ctr.address !== ctrPrev.mac) throw fail(`container interface ${args.ifName} has MAC ${ctr.address}, expected ${ctrPrev.mac}`);

  const hostLinks = await listLinks();
  const hostVeth = hostLinks.find((l) => l.ifindex === ctr.link_index && ifaces.some((i, n) => n !== ctrIdx && i.name === l.ifname));
  if (!hostVeth) throw fail(`no host veth in prevResult is the peer of ${args.ifName}`);
  if (hostVeth.master !== conf.bridge) throw fail(`host veth ${hostVeth.ifname} is not attached to ${conf.bridge}`);
  const hvPrev = ifaces.find((i) => i.name === hostVeth.ifname)!;
  if (hvPrev.mac && hostVeth.address !== hvPrev.mac) throw fail(`host veth ${hostVeth.ifname} has MAC ${hostVeth.address}, expected ${hvPrev.mac}`);

  const have = new Set((ctr.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  const routes = [...(await listRoutes(args.netns, '-4')), ...(prev.ips?.some((i) => familyOf(i.address) === 6) ? await listRoutes(args.netns, '-6') : [])];
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== ctrIdx) continue;
    if (!have.has(ip.address)) throw fail(`address ${ip.address} is missing from ${args.ifName}`, `${args.ifName} has ${[...have].join(', ') || 'no addresses'}`);
    const net = formatCidr(networkOf(parseCidr(ip.address)!));
    if (!routes.some((r) => r.dst === net && r.dev === args.ifName)) throw fail(`route to ${net} is missing on ${args.ifName}`);
  }
  for (const r of prev.routes ?? []) {
    const found = routes.some((k) => (isDefaultRoute(r.dst) ? k.dst === 'default' : k.dst === r.dst || formatCidr(parseCidr(r.dst)!) === k.dst) && (!r.gw || k.gateway === r.gw));
    if (!found) throw fail(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${args.netns}`);
  }
}
