// Pure planning for ADD: from the config and the IPAM result to the result's
// IP/route list and the exact `ip` commands for the bridge and the pod.
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import type { IPConfig, Result, Route } from '../src/cni/types.ts';
import { type Family, familyOf, formatIp, isDefaultRoute, networkOf, offset, overlaps, parseCidr } from '../src/net/cidr.ts';
import type { IpAddrInfo } from '../src/sys/ip.ts';
import type { BridgeConf } from './netconf.ts';

export const CONTAINER_IF_INDEX = 2; // interfaces: [bridge, host veth, container]

export interface L3Plan {
  ips: IPConfig[];
  routes: Route[];
  /** gateway CIDRs (gw/prefix) the bridge must own, one per family at most. */
  bridgeAddrs: string[];
}

export function planL3(conf: BridgeConf, ipam: Result): L3Plan {
  if (!ipam.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
  const ips: IPConfig[] = ipam.ips.map((ip) => {
    const c = parseCidr(ip.address);
    if (!c) throw new CniError(ErrorCode.DecodingFailure, `IPAM returned an invalid address ${JSON.stringify(ip.address)}`);
    let gateway = ip.gateway;
    if (!gateway && conf.isGateway) gateway = formatIp(offset(networkOf(c), 1n));
    return gateway ? { interface: CONTAINER_IF_INDEX, address: ip.address, gateway } : { interface: CONTAINER_IF_INDEX, address: ip.address };
  });
  const routes: Route[] = (ipam.routes ?? []).map((r) => ({ ...r }));
  const bridgeAddrs: string[] = [];
  for (const fam of [4, 6] as Family[]) {
    const first = ips.find((ip) => familyOf(ip.address) === fam && ip.gateway);
    if (!first) continue;
    if (conf.isGateway) bridgeAddrs.push(`${first.gateway}/${first.address.split('/')[1]}`);
    // Go adds a second default route when IPAM already has one without gw and
    // then fails with "file exists"; one default route per family is enough.
    if (conf.isDefaultGateway && !routes.some((r) => isDefaultRoute(r.dst) && familyOf(r.dst) === fam)) {
      routes.push({ dst: fam === 4 ? '0.0.0.0/0' : '::/0', gw: first.gateway });
    }
  }
  return { ips, routes, bridgeAddrs };
}

/** Commands that give the bridge its gateway addresses; throws on a conflicting address unless forceAddress. */
export function bridgeAddrCommands(conf: BridgeConf, existing: IpAddrInfo[], wanted: string[]): string[] {
  const out: string[] = [];
  for (const w of wanted) {
    const want = parseCidr(w)!;
    for (const a of existing) {
      if (a.scope && a.scope !== 'global') continue;
      const have = `${a.local}/${a.prefixlen}`;
      if (have === w) continue;
      const hc = parseCidr(have);
      if (!hc || hc.family !== want.family) continue;
      if (want.family === 4 || overlaps(hc, want)) {
        if (!conf.forceAddress) {
          throw new CniError(ErrorCode.InvalidNetworkConfig, `"${conf.bridge}" already has an IP address different from ${w}`, `${conf.bridge} has ${have}; set forceAddress: true to replace it, or use another bridge name for this subnet`);
        }
        out.push(`addr del ${have} dev ${conf.bridge}`);
      }
    }
    // replace, not add: concurrent ADDs race to put the same address on the bridge.
    out.push(`addr replace ${w} dev ${conf.bridge}`);
  }
  return out;
}

export function podCommands(ifName: string, plan: L3Plan, enableDad: boolean): string[] {
  const lines: string[] = [];
  for (const ip of plan.ips) lines.push(`addr add ${ip.address} dev ${ifName}${familyOf(ip.address) === 6 && !enableDad ? ' nodad' : ''}`);
  lines.push(`link set ${ifName} up`);
  for (const r of plan.routes) {
    const fam = familyOf(r.dst);
    const gw = r.gw ?? plan.ips.find((ip) => familyOf(ip.address) === fam && ip.gateway)?.gateway;
    let l = `route add ${r.dst}${gw ? ` via ${gw}` : ''} dev ${ifName}`;
    if (r.priority !== undefined) l += ` metric ${r.priority}`;
    if (r.table !== undefined) l += ` table ${r.table}`;
    if (r.scope !== undefined) l += ` scope ${r.scope}`;
    lines.push(l);
  }
  return lines;
}

/** A random locally administered unicast MAC, as the kernel would pick. */
export function randomMac(rand: (n: number) => Uint8Array): string {
  const b = rand(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return hex(b, ':');
}

export const randomVethName = (rand: (n: number) => Uint8Array): string => `veth${hex(rand(4))}`;

function hex(b: Uint8Array, sep = ''): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(sep);
}
