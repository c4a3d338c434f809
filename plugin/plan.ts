// Pure planning for ADD: from the config, the IPAM result and the bridge as
// it is, to the result and the exact kernel operations (typed LinkOps) for the
// node and for the pod. Nothing here touches the system.
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import type { IPConfig, Result, Route } from '../src/cni/types.ts';
import { type Addr, type Cidr, type Family, formatCidr, formatIp, networkOf, offset, overlaps, parseCidr, parseIp } from '../src/net/cidr.ts';
import type { IfName, Mac } from '../src/net/names.ts';
import type { LinkOp, LinkState, Netns, PodMasqAttachment, Sysctl } from '../src/sys/kernel.ts';
import type { BridgeConf } from './netconf.ts';

export const CONTAINER_IF_INDEX = 2; // interfaces: [bridge, host veth, container]

/** One pod address with its gateway, parsed. */
export interface PodAddr {
  cidr: Cidr;
  gateway?: Addr;
}

export interface PodRoute {
  dst: Cidr;
  via?: Addr;
  metric?: number;
  table?: number;
  scope?: number;
}

export interface L3Plan {
  addrs: PodAddr[];
  routes: PodRoute[];
  /** Gateway CIDRs (gw/prefix) the bridge must own, one per family at most. */
  bridgeAddrs: Cidr[];
}

const decodeError = (what: string, v: unknown): CniError => new CniError(ErrorCode.DecodingFailure, `IPAM returned an invalid ${what} ${JSON.stringify(v)}`, 'the IPAM plugin must return CIDR addresses and IP gateways');

const defaultDst = (f: Family): Cidr => parseCidr(f === 4 ? '0.0.0.0/0' : '::/0')!;

/** The IPAM result, parsed into typed addresses and routes, with the gateway and default routes of the config. */
export function planL3(conf: BridgeConf, ipam: Result): L3Plan {
  if (!ipam.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
  const addrs: PodAddr[] = ipam.ips.map((ip) => {
    const cidr = parseCidr(ip.address);
    if (!cidr) throw decodeError('address', ip.address);
    const gw = ip.gateway === undefined || ip.gateway === '' ? undefined : parseIp(ip.gateway);
    if (ip.gateway && (!gw || gw.family !== cidr.family)) throw decodeError('gateway', ip.gateway);
    const gateway = gw ?? (conf.isGateway ? offset(networkOf(cidr), 1n) : undefined);
    return gateway ? { cidr, gateway } : { cidr };
  });
  const routes: PodRoute[] = (ipam.routes ?? []).map((r) => {
    const dst = parseCidr(r.dst);
    if (!dst) throw decodeError('route destination', r.dst);
    const via = r.gw ? parseIp(r.gw) : undefined;
    if (r.gw && (!via || via.family !== dst.family)) throw decodeError('route gateway', r.gw);
    const route: PodRoute = { dst };
    if (via) route.via = via;
    for (const k of ['metric', 'table', 'scope'] as const) {
      const v = k === 'metric' ? r.priority : r[k];
      if (v !== undefined) {
        if (!Number.isSafeInteger(v) || v < 0) throw decodeError(`route ${k}`, v);
        route[k] = v;
      }
    }
    return route;
  });
  const bridgeAddrs: Cidr[] = [];
  for (const fam of [4, 6] as Family[]) {
    const first = addrs.find((a) => a.cidr.family === fam && a.gateway);
    if (!first) continue;
    if (conf.isGateway) bridgeAddrs.push({ ...first.gateway!, prefix: first.cidr.prefix });
    // Go adds a second default route when IPAM already has one without gw and
    // then fails with "file exists"; one default route per family is enough.
    if (conf.isDefaultGateway && !routes.some((r) => r.dst.prefix === 0 && r.dst.family === fam)) {
      routes.push({ dst: defaultDst(fam), via: first.gateway! });
    }
  }
  return { addrs, routes, bridgeAddrs };
}

const sameCidr = (a: Cidr, b: Cidr): boolean => a.family === b.family && a.value === b.value && a.prefix === b.prefix;

/**
 * Ops that give the bridge its gateway addresses. A gateway the bridge holds
 * already needs nothing, whatever else it holds (node-local DNS's
 * 169.254.20.10/32, another address listed before ours): those stay. A
 * missing gateway is added unless a conflicting address is there (any other
 * IPv4 one, an overlapping IPv6 one), as in Go: refused, or with
 * forceAddress replaced.
 */
export function bridgeAddrOps(conf: BridgeConf, existing: LinkState['addrs'], wanted: Cidr[]): LinkOp[] {
  const out: LinkOp[] = [];
  for (const w of wanted) {
    if (existing.some((a) => a.scope === 'global' && sameCidr(a.cidr, w))) continue;
    for (const a of existing) {
      if (a.scope !== 'global') continue;
      const have = a.cidr;
      if (have.family !== w.family || (have.value === w.value && have.prefix === w.prefix)) continue;
      if (w.family === 4 || overlaps(have, w)) {
        if (!conf.forceAddress) {
          throw new CniError(ErrorCode.InvalidNetworkConfig, `"${conf.bridge}" already has an IP address different from ${formatCidr(w)}`, `${conf.bridge} has ${formatCidr(have)}; set forceAddress: true to replace it, or use another bridge name for this subnet`);
        }
        out.push({ op: 'addr-del', dev: conf.bridge, addr: have });
      }
    }
    // replace, not add: concurrent ADDs race to put the same address on the
    // bridge. IPv6 without DAD: the gateway is usable at once, never tentative.
    out.push({ op: 'addr-replace', dev: conf.bridge, addr: w, nodad: w.family === 6 });
  }
  return out;
}

/**
 * What the bridge still needs: up (and promiscuous), its gateway addresses,
 * its MAC pinned so it does not churn as ports come and go. Each is an op
 * under the kernel's RTNL lock that every ADD of a burst waits for, so what
 * is already so is left out.
 */
function bridgeOps(conf: BridgeConf, bridge: LinkState, l3: L3Plan | undefined): LinkOp[] {
  const ops: LinkOp[] = [];
  if (!bridge.up || (conf.promiscMode && !bridge.promisc)) ops.push({ op: 'link-set', dev: conf.bridge, up: true, ...(conf.promiscMode ? { promisc: true } : {}) });
  if (l3) ops.push(...bridgeAddrOps(conf, bridge.addrs, l3.bridgeAddrs));
  if (bridge.mac && bridge.macSet !== true) ops.push({ op: 'link-set', dev: conf.bridge, mac: bridge.mac as Mac });
  if (l3) ops.push(...bridgeLinkLocalOps(conf.bridge, bridge, l3.bridgeAddrs));
  return ops;
}

/** The IPv6 link-local address the kernel derives from a MAC (modified EUI-64, RFC 4291 2.5.1). */
export function eui64LinkLocal(mac: string): Cidr {
  const b = mac.split(':').map((x) => BigInt(parseInt(x, 16)));
  const iid = [b[0]! ^ 2n, b[1]!, b[2]!, 0xffn, 0xfen, b[3]!, b[4]!, b[5]!].reduce((v, x) => (v << 8n) | x, 0n);
  return { family: 6, value: (0xfe80n << 112n) | iid, prefix: 64 };
}

/**
 * A new bridge's IPv6 link-local address, added without DAD. The node
 * solicits a pod's MAC (to forward to it) only from a link-local address that
 * has passed DAD, which takes the kernel's own 1-2 s: until then the first
 * pod on a node was unreachable over IPv6 from elsewhere. This is the address
 * the kernel would derive from the bridge's fixed MAC; finding it present, the
 * kernel adds no other. A bridge that has a link-local address already keeps it.
 */
function bridgeLinkLocalOps(name: IfName, br: LinkState, gateways: Cidr[]): LinkOp[] {
  if (!br.mac || !gateways.some((g) => g.family === 6) || br.addrs.some((a) => a.cidr.family === 6 && a.scope === 'link')) return [];
  return [{ op: 'addr-replace', dev: name, addr: eui64LinkLocal(br.mac), nodad: true }];
}

/** Random names and MACs of one ADD, drawn by the caller so the plan stays pure. */
export interface AddNames {
  hostVeth: IfName;
  hostMac: Mac;
  podMac: Mac;
}

export interface HostPlan {
  /** The veth pair: needs neither the IPAM's result nor the bridge's state, so it can go first. */
  veth: LinkOp[];
  /** What the bridge still needs once the addresses are known. */
  bridge: LinkOp[];
  sysctls: Sysctl[];
}

/**
 * The node side, for one batch: the veth pair with its peer created directly
 * in the pod's namespace (never moved), attached to the bridge and up; then
 * the bridge's state (up, gateway addresses, its MAC pinned).
 */
export function planHost(conf: BridgeConf, ifName: IfName, netns: Netns, bridge: LinkState, l3: L3Plan | undefined, names: AddNames): HostPlan {
  const veth: LinkOp[] = [
    { op: 'veth-add', name: names.hostVeth, mac: names.hostMac, peer: ifName, peerMac: names.podMac, peerNetns: netns, ...(conf.mtu ? { mtu: conf.mtu } : {}) },
    { op: 'link-set', dev: names.hostVeth, master: conf.bridge },
    ...(conf.hairpinMode || conf.portIsolation ? [{ op: 'bridge-port', dev: names.hostVeth, ...(conf.hairpinMode ? { hairpin: true } : {}), ...(conf.portIsolation ? { isolated: true } : {}) } as const] : []),
    { op: 'link-set', dev: names.hostVeth, up: true },
  ];
  const sysctls: Sysctl[] = [];
  if (l3 && conf.isGateway) {
    if (l3.addrs.some((a) => a.cidr.family === 4)) sysctls.push({ key: 'net/ipv4/ip_forward', value: '1' });
    if (l3.addrs.some((a) => a.cidr.family === 6)) sysctls.push({ key: 'net/ipv6/conf/all/forwarding', value: '1' });
  }
  return { veth, bridge: bridgeOps(conf, bridge, l3), sysctls };
}

export interface PodPlan {
  sysctls: Sysctl[];
  ops: LinkOp[];
}

/**
 * The pod side, inside its namespace: sysctls first (IPv6 on, no DAD), then
 * addresses, link up, routes. L2-only with `leaveDown`
 * (disableContainerInterface), nothing: the interface stays down.
 */
export function planPod(ifName: IfName, l3: L3Plan | undefined, enableDad: boolean, leaveDown = false): PodPlan {
  if (!l3) return { sysctls: [], ops: leaveDown ? [] : [{ op: 'link-set', dev: ifName, up: true }] };
  const sysctls: Sysctl[] = [{ key: `net/ipv4/conf/${ifName}/arp_notify`, value: '1' }];
  if (l3.addrs.some((a) => a.cidr.family === 6)) {
    sysctls.push({ key: `net/ipv6/conf/${ifName}/disable_ipv6`, value: '0' }, { key: `net/ipv6/conf/${ifName}/accept_dad`, value: enableDad ? '1' : '0' });
  }
  const ops: LinkOp[] = l3.addrs.map((a) => ({ op: 'addr-add', dev: ifName, addr: a.cidr, nodad: a.cidr.family === 6 && !enableDad }));
  ops.push({ op: 'link-set', dev: ifName, up: true });
  // Added as Go adds them (netlink RouteAddEcmp: create, not exclusive): a
  // route to the same destination through another interface or gateway (the
  // pod's default route of its primary network, a second interface of this
  // one) stays, and ours goes beside it; for IPv6 the two make one multipath
  // route. A route the IPAM lists twice (Go adds it twice and fails with
  // "file exists") is added once: the second is what is there already.
  const seen = new Set<string>();
  for (const r of l3.routes) {
    const via = r.via ?? l3.addrs.find((a) => a.cidr.family === r.dst.family && a.gateway)?.gateway;
    const op: LinkOp = { op: 'route-prepend', dst: r.dst, dev: ifName, ...(via ? { via } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}), ...(r.table !== undefined ? { table: r.table } : {}), ...(r.scope !== undefined ? { scope: r.scope } : {}) };
    // As the kernel compares them: no metric is 0 (IPv6: 0 is 1024), no table is main.
    const metric = r.metric || (r.dst.family === 6 ? 1024 : 0);
    const key = JSON.stringify([formatCidr(r.dst), via && formatIp(via), metric, r.table ?? 254, r.scope]);
    if (seen.has(key)) continue;
    seen.add(key);
    ops.push(op);
  }
  return { sysctls, ops };
}

/** What the pod's addresses need masqueraded, when ipMasq is on. */
export function planMasq(conf: BridgeConf, containerId: string, ifName: IfName, l3: L3Plan | undefined): PodMasqAttachment | undefined {
  if (!l3 || !conf.ipMasq) return undefined;
  return { network: conf.name, containerId, ifName, addresses: l3.addrs.map((a) => a.cidr) };
}

/** The ADD result in the 1.1.0 shape. */
export function addResult(conf: BridgeConf, ifName: IfName, netns: Netns, bridgeMac: string | undefined, names: AddNames, l3: L3Plan | undefined, ipam: Result | undefined, version: string): Result {
  const result: Result = {
    cniVersion: version,
    interfaces: [
      { name: conf.bridge, mac: bridgeMac ?? '' },
      { name: names.hostVeth, mac: names.hostMac },
      { name: ifName, mac: names.podMac, sandbox: netns.path },
    ],
  };
  if (l3) {
    result.ips = l3.addrs.map((a): IPConfig => (a.gateway ? { interface: CONTAINER_IF_INDEX, address: formatCidr(a.cidr), gateway: formatIp(a.gateway) } : { interface: CONTAINER_IF_INDEX, address: formatCidr(a.cidr) }));
    const routes: Route[] = l3.routes.map((r) => {
      const o: Route = { dst: formatCidr(r.dst) };
      if (r.via) o.gw = formatIp(r.via);
      if (r.metric !== undefined) o.priority = r.metric;
      if (r.table !== undefined) o.table = r.table;
      if (r.scope !== undefined) o.scope = r.scope;
      return o;
    });
    if (routes.length) result.routes = routes;
  }
  const dns = conf.dns ?? ipam?.dns;
  if (dns) result.dns = dns;
  return result;
}
