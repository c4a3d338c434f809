// Prometheus metrics of the agent (prom-client, one registry per agent):
// syncs and their duration, route writes and failures, installed and skipped
// peers, readiness, kernel events and the node source's state and counters.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatCidr } from '../net/cidr.ts';
import type { SyncReport } from './agent.ts';
import type { LoopObserver } from './loop.ts';
import type { NodeSource, SourceState } from './source.ts';

const STATES: SourceState[] = ['listing', 'watching', 'backoff'];

export class AgentMetrics implements LoopObserver {
  readonly registry = new Registry();
  private readonly syncs: Counter<'result'>;
  private readonly duration: Histogram;
  private readonly writes: Counter;
  private readonly routes: Gauge<'family'>;
  private readonly failedPeers: Gauge;
  private readonly skipped: Gauge;
  private readonly ready: Gauge;
  private readonly events: Counter<'kind'>;

  constructor(source: NodeSource) {
    const registers = [this.registry];
    try {
      collectDefaultMetrics({ register: this.registry });
    } catch {
      // a runtime without some of Node's process probes: the agent's own metrics still work
    }
    this.syncs = new Counter({ name: 'flatnet_agent_syncs_total', help: 'Syncs of routes, masquerade and conflist, by result (ok: ran to the end, peers may still have failed; error: aborted)', labelNames: ['result'], registers });
    this.duration = new Histogram({ name: 'flatnet_agent_sync_duration_seconds', help: 'Time one sync took', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.writes = new Counter({ name: 'flatnet_agent_route_writes_total', help: 'Route and nexthop operations sent to the kernel', registers });
    this.routes = new Gauge({ name: 'flatnet_agent_peer_routes', help: 'Peer routes installed by the last sync', labelNames: ['family'], registers });
    this.failedPeers = new Gauge({ name: 'flatnet_agent_peer_route_failures', help: 'Peer routes the kernel refused in the last sync', registers });
    this.skipped = new Gauge({ name: 'flatnet_agent_skipped_peers', help: 'Peer podCIDRs left unrouted by the last sync, each for a reason shown by flatnet status', registers });
    this.ready = new Gauge({ name: 'flatnet_agent_ready', help: '1 when this node has its podCIDR, masquerade and conflist', registers });
    this.events = new Counter({ name: 'flatnet_agent_kernel_events_total', help: 'Link, address, route and nexthop changes seen', labelNames: ['kind'], registers });
    new Gauge({
      name: 'flatnet_agent_node_source_state',
      help: 'What the node source is doing: listing (no list yet), watching (following changes), backoff (retrying after an error)',
      labelNames: ['state'],
      registers,
      collect() {
        const now = source.status().state;
        for (const s of STATES) this.set({ state: s }, s === now ? 1 : 0);
      },
    });
    const counter = (name: string, help: string, value: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    counter('flatnet_agent_node_lists_total', 'Complete node lists taken (file reads or API lists)', () => source.status().lists);
    counter('flatnet_agent_node_source_errors_total', 'Failed node file reads, API lists and watches', () => source.status().errors);
  }

  synced(r: SyncReport, seconds: number): void {
    this.syncs.inc({ result: 'ok' });
    this.duration.observe(seconds);
    this.writes.inc(r.routeWrites);
    const failed = new Set(r.failed.map((f) => f.podCIDR));
    for (const f of [4, 6] as const) this.routes.set({ family: String(f) }, r.plan.routes.filter((p) => p.family === f && !failed.has(formatCidr(p.dst))).length);
    this.failedPeers.set(r.failed.length);
    this.skipped.set(r.plan.skipped.length);
    this.ready.set(r.ready ? 1 : 0);
  }

  syncFailed(_e: Error, seconds: number): void {
    this.syncs.inc({ result: 'error' });
    this.duration.observe(seconds);
  }

  kernelEvent(kind: string): void {
    this.events.inc({ kind });
  }
}
