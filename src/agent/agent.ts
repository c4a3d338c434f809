// The node agent: turns the node list into routes, masquerade and this node's
// conflist. Every sync is a diff against the kernel, so it is also the resync
// that removes our stale routes after a restart.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';
import { writeAgentStatus } from '../contract/agent-status.ts';
import { log } from '../log.ts';
import { bitsOf, type Cidr, collapseCidrs, type Family, formatCidr, formatIp, networkOf, parseCidr } from '../net/cidr.ts';
import { ifNameProblem, type IfName } from '../net/names.ts';
import type { Kernel, LinkOp, MasqBackendChoice } from '../sys/kernel.ts';
import { renderConflist, writeIfChanged } from './cni-config.ts';
import { fromNodeList, type NodeInfo } from './nodes.ts';
import { diffNexthopRoutes, diffRoutes, type LocalNet, type Plan, planRoutes } from './plan.ts';

export const DEFAULT_PROTO = 201;

export interface AgentOptions {
  nodeName: string;
  clusterCIDRs: string[];
  confDir: string;
  confFile: string;
  networkName: string;
  bridge: string;
  ipamDataDir?: string;
  mtu?: number;
  proto: number;
  statusFile?: string;
  masqBackend: MasqBackendChoice;
}

export interface SyncReport {
  plan: Plan;
  routeWrites: number;
  conflistWritten: boolean;
  ready: boolean;
}

/** Every global address's network on this node, with its link: where next hops must be, and through which link. */
export function localNetworks(k: Kernel): LocalNet[] {
  return k.links().flatMap((l) =>
    l.addrs
      .filter((a) => a.scope === 'global')
      // A link whose name `ip -batch` cannot carry gets plain routes (no dev).
      .map((a) => ({ net: networkOf(a.cidr), ...(ifNameProblem(l.name) ? {} : { dev: l.name as IfName }) })),
  );
}

export class Agent {
  private queue: Promise<unknown> = Promise.resolve();
  last?: SyncReport;

  constructor(
    readonly opts: AgentOptions,
    private readonly kernel: Kernel,
  ) {}

  /** Serialised: a sync never runs concurrently with another. */
  sync(nodes: NodeInfo[]): Promise<SyncReport> {
    const next = this.queue.then(() => this.doSync(nodes));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async doSync(nodes: NodeInfo[]): Promise<SyncReport> {
    const o = this.opts;
    const k = this.kernel;
    const localNets = localNetworks(k);
    const plan = planRoutes({ selfName: o.nodeName, nodes, clusterCIDRs: o.clusterCIDRs, localNets });
    for (const s of plan.skipped) await log('warn', { node: s.node }, `skipping node: ${s.reason}`);
    const ready = plan.ownPodCIDRs.length > 0;
    if (ready) {
      const families = [...new Set(plan.ownPodCIDRs.map((c) => c.family))];
      k.setSysctls(families.map((f) => (f === 4 ? { key: 'net/ipv4/ip_forward', value: '1' } : { key: 'net/ipv6/conf/all/forwarding', value: '1' })));
      const masq = k.egressMasq(o.masqBackend);
      for (const f of families) masq.sync(f, plan.ownPodCIDRs.filter((c) => c.family === f), noMasquerade(f, o.clusterCIDRs, localNets, nodes, plan));
    }
    const ops = this.syncRoutes(plan);
    let conflistWritten = false;
    if (ready) {
      conflistWritten = writeIfChanged(o.confDir, o.confFile, renderConflist({ name: o.networkName, bridge: o.bridge, podCIDRs: plan.ownPodCIDRs.map(formatCidr), dataDir: o.ipamDataDir, mtu: o.mtu, agentStatusFile: o.statusFile }));
    }
    const report = { plan, routeWrites: ops.length, conflistWritten, ready };
    this.last = report;
    if (o.statusFile) writeStatus(o.statusFile, report, o.nodeName, join(o.confDir, o.confFile));
    await log('info', { routes: plan.routes.length, writes: ops.length, skipped: plan.skipped.length, ready }, 'synced');
    return report;
  }

  /** Applies the route diff; returns the ops carried out. Nexthop objects where the kernel has them. */
  private syncRoutes(plan: Plan): LinkOp[] {
    const k = this.kernel;
    const proto = this.opts.proto;
    const listRoutes = () => [...k.routes(4, undefined, { proto }), ...k.routes(6, undefined, { proto })];
    const nexthops = k.nexthops();
    if (nexthops) {
      const ops = diffNexthopRoutes(plan.routes, listRoutes(), nexthops, proto);
      try {
        k.apply(ops);
        return ops;
      } catch (e) {
        // A nexthop cannot be made on a link without carrier, where a plain
        // route can (it waits, "linkdown"): fall back for this sync.
        void log('warn', {}, `nexthop routes failed, using plain routes: ${(e as Error).message}`);
      }
    }
    const ops = diffRoutes(plan.routes, listRoutes(), proto);
    k.apply(ops);
    return ops;
  }
}

/** Destinations of one family that pods reach without NAT: the cluster, pod CIDRs, local networks, node IPs. */
export function noMasquerade(f: Family, clusterCIDRs: string[], localNets: LocalNet[], nodes: NodeInfo[], plan: Plan): Cidr[] {
  const wanted = [
    ...clusterCIDRs.flatMap((c) => parseCidr(c) ?? []),
    ...localNets.map((l) => l.net),
    ...nodes.flatMap((n) => n.podCIDRs.flatMap((c) => parseCidr(c) ?? [])),
    ...plan.nodeIPs.map((ip) => ({ ...ip, prefix: bitsOf(ip.family) })),
  ].filter((c) => c.family === f);
  return collapseCidrs(wanted.map(formatCidr)).map((c) => parseCidr(c)!);
}

function writeStatus(path: string, r: SyncReport, nodeName: string, conflist: string): void {
  writeAgentStatus(path, {
    ...(r.conflistWritten || r.ready ? { conflist } : {}),
    time: new Date().toISOString(),
    node: r.plan.self?.name ?? nodeName,
    podCIDRs: r.plan.ownPodCIDRs.map(formatCidr),
    ready: r.ready,
    peers: r.plan.routes.map((p) => ({ node: p.node, podCIDR: formatCidr(p.dst), via: formatIp(p.via), state: 'installed' })),
    skipped: r.plan.skipped,
  });
}

export function readNodesFile(path: string): NodeInfo[] {
  return fromNodeList(JSON.parse(readFileSync(path, 'utf8')));
}

/** Runs the agent from a nodes file: sync on change (polled, so atomic renames are seen) and every resync period. */
export async function runFromFile(agent: { sync(nodes: NodeInfo[]): Promise<unknown> }, path: string, resyncSeconds: number, signal: AbortSignal): Promise<void> {
  const syncNow = async (why: string): Promise<void> => {
    let nodes: NodeInfo[];
    try {
      nodes = readNodesFile(path);
    } catch (e) {
      await log('error', { path }, `cannot read nodes file: ${(e as Error).message}`);
      return;
    }
    try {
      await agent.sync(nodes);
    } catch (e) {
      await log('error', { why }, `sync failed: ${(e as Error).message}`);
    }
  };
  await syncNow('start');
  watchFile(path, { interval: 250 }, () => void syncNow('file changed'));
  const timer = setInterval(() => void syncNow('resync'), resyncSeconds * 1000);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(timer);
  unwatchFile(path);
}
