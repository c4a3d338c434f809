// The node agent: turns the node list into routes, masquerade and this node's
// conflist. Every sync is a diff against the kernel, so it is also the resync
// that removes our stale routes after a restart.
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { writeAgentStatus } from './status-file.ts';
import { log } from '../log.ts';
import { collapseCidrs, familyOf } from '../net/cidr.ts';
import { renderConflist, writeIfChanged } from './cni-config.ts';
import { fromNodeList, type NodeInfo } from './nodes.ts';
import { diffNexthopRoutes, diffRoutes, planRoutes, type Plan } from './plan.ts';
import { applyRouteBatch, enableForwarding, listNexthops, listOwnRoutes, localNetworks, syncMasq } from './system.ts';

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
}

export interface SyncReport {
  plan: Plan;
  routeWrites: number;
  conflistWritten: boolean;
  ready: boolean;
}

export class Agent {
  private queue: Promise<unknown> = Promise.resolve();
  last?: SyncReport;

  constructor(readonly opts: AgentOptions) {}

  /** Serialised: a sync never runs concurrently with another. */
  sync(nodes: NodeInfo[]): Promise<SyncReport> {
    const next = this.queue.then(() => this.doSync(nodes));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async doSync(nodes: NodeInfo[]): Promise<SyncReport> {
    const o = this.opts;
    const localNets = await localNetworks();
    const plan = planRoutes({ selfName: o.nodeName, nodes, clusterCIDRs: o.clusterCIDRs, localNets });
    for (const s of plan.skipped) await log('warn', { node: s.node }, `skipping node: ${s.reason}`);
    const ready = plan.ownPodCIDRs.length > 0;
    if (ready) {
      const families = [...new Set(plan.ownPodCIDRs.map(familyOf))];
      enableForwarding(families);
      for (const f of families) {
        const wanted = [...o.clusterCIDRs, ...localNets.map((l) => l.net), ...nodes.flatMap((n) => n.podCIDRs), ...plan.nodeIPs.map((ip) => `${ip}/${f === 4 ? 32 : 128}`)];
        await syncMasq(f, plan.ownPodCIDRs.filter((c) => familyOf(c) === f), collapseCidrs(wanted.filter((c) => familyOf(c) === f)));
      }
    }
    const lines = await this.syncRoutes(plan);
    let conflistWritten = false;
    if (ready) {
      conflistWritten = writeIfChanged(o.confDir, o.confFile, renderConflist({ name: o.networkName, bridge: o.bridge, podCIDRs: plan.ownPodCIDRs, dataDir: o.ipamDataDir, mtu: o.mtu, agentStatusFile: o.statusFile }));
    }
    const report = { plan, routeWrites: lines.length, conflistWritten, ready };
    this.last = report;
    if (o.statusFile) writeStatus(o.statusFile, report, o.nodeName);
    await log('info', { routes: plan.routes.length, writes: lines.length, skipped: plan.skipped.length, ready }, 'synced');
    return report;
  }

  /** Applies the route diff; returns the lines written. Nexthop objects where the kernel has them. */
  private async syncRoutes(plan: Plan): Promise<string[]> {
    const proto = this.opts.proto;
    const listRoutes = async () => (await Promise.all([listOwnRoutes(proto, 4), listOwnRoutes(proto, 6)])).flat();
    const [nexthops, actual] = await Promise.all([listNexthops(), listRoutes()]);
    if (nexthops) {
      const lines = diffNexthopRoutes(plan.routes, actual, nexthops, proto);
      try {
        if (lines.length) await applyRouteBatch(lines);
        return lines;
      } catch (e) {
        // A nexthop cannot be made on a link without carrier, where a plain
        // route can (it waits, "linkdown"): fall back for this sync.
        await log('warn', {}, `nexthop routes failed, using plain routes: ${(e as Error).message}`);
      }
    }
    const lines = diffRoutes(plan.routes, await listRoutes(), proto);
    if (lines.length) await applyRouteBatch(lines);
    return lines;
  }
}

function writeStatus(path: string, r: SyncReport, nodeName: string): void {
  writeAgentStatus(path, {
    time: new Date().toISOString(),
    node: r.plan.self?.name ?? nodeName,
    podCIDRs: r.plan.ownPodCIDRs,
    ready: r.ready,
    peers: r.plan.routes.map((p) => ({ node: p.node, podCIDR: p.dst, via: p.via, state: 'installed' })),
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
