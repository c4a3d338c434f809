// What the agent wants on this node, from the node list: one route per peer
// podCIDR via that peer's InternalIP of the same family, with every bad peer
// skipped and explained rather than stopping the agent. Pure.
import { type Cidr, type Family, contains, formatCidr, networkOf, parseCidr, parseIp } from '../net/cidr.ts';
import type { NodeInfo } from './nodes.ts';

export interface PeerRoute {
  node: string;
  dst: string; // canonical CIDR
  via: string;
  family: Family;
}

export interface Skipped {
  node: string;
  reason: string;
}

export interface Plan {
  self?: NodeInfo;
  ownPodCIDRs: string[];
  routes: PeerRoute[];
  skipped: Skipped[];
  nodeIPs: string[];
}

export interface PlanInput {
  selfName: string;
  nodes: NodeInfo[];
  clusterCIDRs: string[];
  /** Networks directly connected to this node (its interface addresses with prefix). */
  localNets: string[];
}

export function planRoutes(inp: PlanInput): Plan {
  const cluster = inp.clusterCIDRs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  const local = inp.localNets.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  const self = inp.nodes.find((n) => n.name === inp.selfName);
  const routes: PeerRoute[] = [];
  const skipped: Skipped[] = [];
  const nodeIPs = inp.nodes.flatMap((n) => n.internalIPs.filter((ip) => parseIp(ip)));
  for (const node of inp.nodes) {
    if (node.name === inp.selfName) continue;
    if (node.podCIDRs.length === 0) {
      skipped.push({ node: node.name, reason: 'no podCIDR assigned yet' });
      continue;
    }
    for (const raw of node.podCIDRs) {
      const cidr = parseCidr(raw);
      if (!cidr) {
        skipped.push({ node: node.name, reason: `podCIDR ${JSON.stringify(raw)} is not a CIDR` });
        continue;
      }
      const via = node.internalIPs.map((ip) => parseIp(ip)).find((a) => a?.family === cidr.family);
      const dst = formatCidr(networkOf(cidr));
      if (!via) {
        skipped.push({ node: node.name, reason: `no IPv${cidr.family} InternalIP for podCIDR ${dst}` });
        continue;
      }
      const viaStr = node.internalIPs.find((ip) => parseIp(ip)?.value === via.value && parseIp(ip)?.family === via.family)!;
      if (cluster.some((c) => contains(c, via))) {
        skipped.push({ node: node.name, reason: `next hop ${viaStr} lies inside the cluster CIDR` });
        continue;
      }
      if (!local.some((n) => contains(n, via))) {
        skipped.push({ node: node.name, reason: `next hop ${viaStr} is not on a directly connected network (nodes must share an L2 segment)` });
        continue;
      }
      routes.push({ node: node.name, dst, via: viaStr, family: cidr.family });
    }
  }
  return { self, ownPodCIDRs: self?.podCIDRs.filter((c) => parseCidr(c)).map((c) => formatCidr(networkOf(parseCidr(c)!))) ?? [], routes, skipped, nodeIPs };
}

export interface KernelRoute {
  dst: string;
  via?: string;
}

/** `ip -batch` lines that turn `actual` (our protocol's routes) into `desired`; empty when nothing differs. */
export function diffRoutes(desired: PeerRoute[], actual: KernelRoute[], proto: number): string[] {
  const want = new Map(desired.map((r) => [r.dst, r.via]));
  const have = new Map(actual.map((r) => [r.dst, r.via]));
  const lines: string[] = [];
  for (const [dst, via] of want) {
    if (have.get(dst) !== via) lines.push(`route replace ${dst} via ${via} proto ${proto}`);
  }
  for (const dst of have.keys()) {
    if (!want.has(dst)) lines.push(`route del ${dst} proto ${proto}`);
  }
  return lines;
}
