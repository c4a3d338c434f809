// The node agent's sync: turns a node list into routes, masquerade and this
// node's conflist. Every sync is a diff against the kernel, so it is also the
// repair after a link flap or a hand-deleted route, and the clean-up of our
// stale routes after a restart. It only ever writes, replaces or deletes
// routes and nexthops marked with its own protocol number.
import { join } from 'node:path';
import { writeAgentStatus } from '../contract/agent-status.ts';
import { log } from '../log.ts';
import { bitsOf, type Cidr, collapseCidrs, type Family, formatCidr, formatIp, networkOf, parseCidr } from '../net/cidr.ts';
import { ifNameProblem, type IfName } from '../net/names.ts';
import type { AgentKernel, LinkOp, LinkState, MasqBackendChoice, RouteState } from '../sys/kernel.ts';
import { renderConflist, writeIfChanged } from './cni-config.ts';
import type { NodeInfo } from './nodes.ts';
import { OncePerChange } from './once.ts';
import { diffNexthopRoutes, diffRoutes, type LocalNet, type PeerRoute, type Plan, planRoutes } from './plan.ts';

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
  /**
   * Also leave traffic to this node's networks (and the peers on them)
   * unmasqueraded: only right where every host there routes the pod subnets
   * back (--no-masquerade-node-network).
   */
  exemptNodeNetworks?: boolean;
}

/** A peer route the kernel refused (the other peers were still written). */
export interface PeerFailure {
  node: string;
  podCIDR: string;
  error: string;
}

export interface SyncReport {
  plan: Plan;
  routeWrites: number;
  failed: PeerFailure[];
  /** Failures that belong to no peer: removing a stale route or nexthop of ours. */
  errors: string[];
  conflistWritten: boolean;
  ready: boolean;
  problem?: string;
}

/** What the caller knows about this sync: why it runs, and the node source's state for `flatnet status`. */
export interface SyncContext {
  why?: string;
  source?: string;
}

/** The networks of every address on this node (any scope), with their links. */
export function localNetworks(links: LinkState[]): LocalNet[] {
  return links.flatMap((l) =>
    l.addrs.map((a) => ({
      net: networkOf(a.cidr),
      addr: { family: a.cidr.family, value: a.cidr.value },
      // A link whose name `ip -batch` cannot carry gets plain routes (no dev).
      ...(ifNameProblem(l.name) ? {} : { dev: l.name as IfName }),
      ...(a.scope === 'global' ? {} : { scoped: true }),
    })),
  );
}

const key = (c: Cidr): string => formatCidr(c);
const MAX_CHANGE_LINES = 100;

interface RouteOutcome {
  writes: number;
  /** podCIDR -> the kernel's message. */
  failed: Map<string, string>;
  /** podCIDR -> why its nexthop was refused, for peers routed with a plain route instead. */
  plain: Map<string, string>;
  errors: string[];
}

export class Agent {
  private queue: Promise<unknown> = Promise.resolve();
  last?: SyncReport;
  /** Syncs whose masquerade rules could not be written (the sync failed), for metrics. */
  masqueradeErrors = 0;
  /** Which node each of our routes was for, as of the last sync: names removed routes in the log. */
  private routeOwners = new Map<string, string>();
  private readonly skipLog = new OncePerChange();
  private readonly failLog = new OncePerChange();
  private readonly plainLog = new OncePerChange();

  constructor(
    readonly opts: AgentOptions,
    private readonly kernel: AgentKernel,
  ) {}

  /** Serialised: a sync never runs concurrently with another. */
  sync(nodes: NodeInfo[], ctx: SyncContext = {}): Promise<SyncReport> {
    const next = this.queue.then(() => this.doSync(nodes, ctx));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async doSync(nodes: NodeInfo[], ctx: SyncContext): Promise<SyncReport> {
    try {
      return await this.syncOnce(nodes, ctx);
    } catch (e) {
      // A failed sync is a node not ready, in the file the plugin's STATUS
      // reads too: never the last good sync's "ready" left standing.
      const o = this.opts;
      if (o.statusFile && this.last) writeStatus(o.statusFile, { ...this.last, ready: false, problem: `last sync failed: ${(e as Error).message}` }, o.nodeName, join(o.confDir, o.confFile), ctx.source);
      else if (o.statusFile) writeAgentStatus(o.statusFile, { time: new Date().toISOString(), node: o.nodeName, podCIDRs: [], ready: false, problem: `sync failed: ${(e as Error).message}`, peers: [], skipped: [] });
      throw e;
    }
  }

  private async syncOnce(nodes: NodeInfo[], ctx: SyncContext): Promise<SyncReport> {
    const o = this.opts;
    const k = this.kernel;
    const localNets = localNetworks(k.links());
    const main = [...k.routes(4), ...k.routes(6)];
    const mine = (r: RouteState): boolean => r.proto === String(o.proto);
    const ours = main.filter(mine);
    const plan = planRoutes({ selfName: o.nodeName, nodes, clusterCIDRs: o.clusterCIDRs, localNets, foreignRoutes: main.filter((r) => !mine(r)) });
    // Routes of others through our nexthops (the kernel would delete them with the nexthop).
    const usedByOthers = new Set(main.flatMap((r) => (!mine(r) && r.nhid !== undefined ? [r.nhid] : [])));
    const routes = this.syncRoutes(plan, ours, usedByOthers);
    const ready = plan.ownPodCIDRs.length > 0;
    let conflistWritten = false;
    if (ready) {
      const families = [...new Set(plan.ownPodCIDRs.map((c) => c.family))];
      k.setSysctls(families.map((f) => (f === 4 ? { key: 'net/ipv4/ip_forward', value: '1' } : { key: 'net/ipv6/conf/all/forwarding', value: '1' })));
      try {
        const masq = k.egressMasq(o.masqBackend);
        for (const f of families) masq.sync(f, plan.ownPodCIDRs.filter((c) => c.family === f), noMasquerade(f, o.clusterCIDRs, localNets, plan, o.exemptNodeNetworks ?? false));
      } catch (e) {
        this.masqueradeErrors++;
        throw e;
      }
      conflistWritten = writeIfChanged(o.confDir, o.confFile, renderConflist({ name: o.networkName, bridge: o.bridge, podCIDRs: plan.ownPodCIDRs.map(formatCidr), dataDir: o.ipamDataDir, mtu: o.mtu, agentStatusFile: o.statusFile }));
    }
    const failed = plan.routes.flatMap((r) => (routes.failed.has(key(r.dst)) ? [{ node: r.node, podCIDR: key(r.dst), error: routes.failed.get(key(r.dst))! }] : []));
    const report: SyncReport = { plan, routeWrites: routes.writes, failed, errors: routes.errors, conflistWritten, ready, ...(plan.problem ? { problem: plan.problem } : {}) };
    this.last = report;
    if (o.statusFile) writeStatus(o.statusFile, report, o.nodeName, join(o.confDir, o.confFile), ctx.source);
    await this.logSync(report, ours, routes.plain, ctx);
    this.routeOwners = new Map(plan.routes.map((r) => [key(r.dst), r.node]));
    return report;
  }

  /**
   * Applies the route diff, one failure never stopping the other peers
   * (`ip -force -batch`). Nexthop objects where the kernel has them; a peer
   * whose nexthop or route failed gets a plain route in a second batch: a
   * nexthop cannot be made on a link without carrier, where a plain route
   * can (it waits, "linkdown").
   */
  private syncRoutes(plan: Plan, ours: RouteState[], usedByOthers: ReadonlySet<number>): RouteOutcome {
    const k = this.kernel;
    const proto = this.opts.proto;
    const out: RouteOutcome = { writes: 0, failed: new Map(), plain: new Map(), errors: [] };
    const nexthops = k.nexthops();
    let plain: PeerRoute[] | undefined;
    if (nexthops) {
      const ops = diffNexthopRoutes(plan.routes, ours, nexthops, proto, usedByOthers);
      out.writes += ops.length;
      const nhFailed = new Map<number, string>();
      const failures = k.apply(ops, undefined, { keepGoing: true }).failed;
      for (const f of failures) if (f.op.op === 'nexthop-replace') nhFailed.set(f.op.id, f.error.kernelMessage);
      for (const { op, error } of failures) {
        if (op.op === 'route-replace') out.failed.set(key(op.dst), (op.nhid !== undefined && nhFailed.get(op.nhid)) || error.kernelMessage);
        else if (op.op !== 'nexthop-replace') out.errors.push(`${describeOp(op)}: ${error.kernelMessage}`);
      }
      plain = plan.routes.filter((r) => out.failed.has(key(r.dst)));
      if (plain.length === 0) return out;
    }
    const ops: LinkOp[] = plain ? plain.map((r) => ({ op: 'route-replace', dst: r.dst, via: r.via, proto })) : diffRoutes(plan.routes, ours, proto);
    out.writes += ops.length;
    const failures = k.apply(ops, undefined, { keepGoing: true }).failed;
    // A plain route that took the place of a failed nexthop route: that peer is routed.
    const refused = new Set(failures.flatMap((f) => (f.op.op === 'route-replace' ? [key(f.op.dst)] : [])));
    for (const r of plain ?? []) {
      if (refused.has(key(r.dst))) continue;
      out.plain.set(key(r.dst), out.failed.get(key(r.dst))!);
      out.failed.delete(key(r.dst));
    }
    for (const { op, error } of failures) {
      if (op.op !== 'route-replace') out.errors.push(`${describeOp(op)}: ${error.kernelMessage}`);
      else if (plain) out.failed.set(key(op.dst), `${out.failed.get(key(op.dst))}; as a plain route: ${error.kernelMessage}`);
      else out.failed.set(key(op.dst), error.kernelMessage);
    }
    return out;
  }

  /** Logs what changed since the last sync: routes added, moved, removed; skips and failures once per change. */
  private async logSync(r: SyncReport, before: RouteState[], plain: Map<string, string>, ctx: SyncContext): Promise<void> {
    const had = new Map(before.map((x) => [key(x.dst), x]));
    const lines: Array<[Record<string, unknown>, string]> = [];
    for (const p of r.plan.routes) {
      const h = had.get(key(p.dst));
      const fields = { node: p.node, podCIDR: key(p.dst), via: formatIp(p.via) };
      if (r.failed.some((f) => f.podCIDR === key(p.dst))) continue;
      if (!h) lines.push([fields, `route added: ${key(p.dst)} via ${formatIp(p.via)} (node ${p.node})`]);
      else if (!h.via || formatIp(h.via) !== formatIp(p.via)) lines.push([fields, `route changed: ${key(p.dst)} via ${formatIp(p.via)} (node ${p.node}), was via ${h.via ? formatIp(h.via) : '?'}`]);
    }
    const wanted = new Set(r.plan.routes.map((p) => key(p.dst)));
    for (const [dst] of had) {
      if (wanted.has(dst)) continue;
      const owner = this.routeOwners.get(dst);
      lines.push([{ podCIDR: dst, ...(owner ? { node: owner } : {}) }, `route removed: ${dst} (${owner ? `node ${owner}` : 'left by an earlier run'})`]);
    }
    for (const [fields, msg] of lines.slice(0, MAX_CHANGE_LINES)) await log('info', fields, msg);
    if (lines.length > MAX_CHANGE_LINES) await log('info', {}, `... and ${lines.length - MAX_CHANGE_LINES} more route changes`);
    await this.skipLog.update(
      new Map(r.plan.skipped.map((s) => [`${s.node}\u0000${s.reason}`, `skipping node ${s.node}: ${s.reason}`])),
      'warn',
      (k) => ({ node: k.split('\u0000')[0] }),
      (k) => `node ${k.split('\u0000')[0]} is no longer skipped for: ${k.split('\u0000')[1]}`,
    );
    const problems = new Map<string, string>([
      ...r.failed.map((f): [string, string] => [`peer ${f.podCIDR}`, `route to ${f.podCIDR} (node ${f.node}) failed: ${f.error}`]),
      ...r.errors.map((e): [string, string] => [e, e]),
      ...(r.problem ? [['problem', `node not ready: ${r.problem}`] as [string, string]] : []),
    ]);
    await this.failLog.update(problems, 'error', () => ({}), (_k, was) => `resolved: ${was}`);
    const plainRoutes = new Map(r.plan.routes.filter((p) => plain.has(key(p.dst))).map((p): [string, string] => [key(p.dst), `route to ${key(p.dst)} (node ${p.node}) is a plain route: the kernel refused its nexthop (${plain.get(key(p.dst))})`]));
    await this.plainLog.update(plainRoutes, 'warn', (k) => ({ podCIDR: k }), (k) => `route to ${k} is on a nexthop again, or gone`);
    await log('debug', { why: ctx.why, routes: r.plan.routes.length, writes: r.routeWrites, skipped: r.plan.skipped.length, failed: r.failed.length, ready: r.ready }, 'synced');
  }
}

function describeOp(op: LinkOp): string {
  switch (op.op) {
    case 'route-del':
      return `removing our route to ${key(op.dst)}`;
    case 'nexthop-del':
      return `removing our nexthop ${op.id}`;
    default:
      return op.op;
  }
}

/**
 * Destinations of one family that pods reach without NAT. By default only the
 * cluster CIDRs (every routed podCIDR is inside one) and this node's podCIDRs,
 * as kindnet and flannel do: any other host, on the node network or not
 * (an API server or load balancer that is no node, an NFS or etcd host, a
 * Node whose agent is not running), has no route back to pod subnets, so it
 * must see the node's address. Traffic to this node's own addresses is
 * delivered locally and never passes POSTROUTING, so it keeps the pod's source
 * either way. With `exemptNodeNetworks`, this node's networks and the peers we
 * route to as well (where those hosts route the pod subnets back). Only checked values: a
 * hostile Node object claiming 0.0.0.0/0 must not switch masquerade off.
 */
export function noMasquerade(f: Family, clusterCIDRs: string[], localNets: LocalNet[], plan: Plan, exemptNodeNetworks = false): Cidr[] {
  const wanted = [
    ...clusterCIDRs.flatMap((c) => parseCidr(c) ?? []),
    ...plan.ownPodCIDRs,
    ...(exemptNodeNetworks ? [...localNets.filter((l) => !l.scoped).map((l) => l.net), ...plan.routedNodeIPs.map((ip) => ({ ...ip, prefix: bitsOf(ip.family) }))] : []),
  ].filter((c) => c.family === f);
  return collapseCidrs(wanted.map(formatCidr)).map((c) => parseCidr(c)!);
}

function writeStatus(path: string, r: SyncReport, nodeName: string, conflist: string, source: string | undefined): void {
  const failed = new Map(r.failed.map((f) => [f.podCIDR, f.error]));
  writeAgentStatus(path, {
    ...(r.conflistWritten || r.ready ? { conflist } : {}),
    time: new Date().toISOString(),
    node: r.plan.self?.name ?? nodeName,
    podCIDRs: r.plan.ownPodCIDRs.map(formatCidr),
    ready: r.ready,
    ...(r.problem ? { problem: r.problem } : {}),
    ...(source ? { source } : {}),
    peers: r.plan.routes.map((p) => ({ node: p.node, podCIDR: key(p.dst), via: formatIp(p.via), state: failed.has(key(p.dst)) ? `failed: ${failed.get(key(p.dst))}` : 'installed' })),
    skipped: r.plan.skipped,
  });
}
