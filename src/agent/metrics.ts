// Prometheus metrics of the agent (prom-client, one registry per agent):
// syncs by reason and result and their duration, the last good sync's time,
// route writes and failures, installed and skipped peers (by reason),
// readiness, kernel events, the node source's state, lists, pages, relists,
// watches and watch events, the API's latency and status codes, masquerade
// errors, build info, and the process's own CPU, memory and start time.
// prom-client's default collectors are not used: under Bun (the agent's
// runtime) they report a Node.js version that is not running, reserved
// address space as heap, and dozens of gauges that are always zero.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatCidr } from '../net/cidr.ts';
import { VERSION } from '../version.ts';
import type { SyncReport } from './agent.ts';
import type { LoopObserver } from './loop.ts';
import type { ReflectorStatus } from './reflector.ts';
import type { NodeSource, SourceState } from './source.ts';

/** A sync's trigger as a label value: one of a few, whatever the detail ("kernel event (route)" is kernel_event). */
export function syncReason(why: string): string {
  if (why.startsWith('kernel event')) return 'kernel_event';
  const known: Record<string, string> = { 'node list': 'node_list', 'node watch event': 'node_watch_event', resync: 'resync', retry: 'retry', start: 'start', 'nodes file changed': 'nodes_file_changed' };
  return known[why] ?? 'other';
}

/** Why a peer was skipped, as a label value: the class of the planner's reason. */
export function skipReason(reason: string): string {
  if (reason.startsWith('no podCIDR')) return 'no_podcidr';
  if (reason.startsWith('being deleted') || reason.startsWith('not posting status')) return 'yielded';
  if (/is also given by|claimed by|also claim|overlaps one of/.test(reason)) return 'conflict';
  if (/is not a CIDR|not an IP address|no IPv[46] InternalIP/.test(reason)) return 'invalid';
  if (/not on a directly connected network|network address|broadcast address|own address/.test(reason)) return 'next_hop';
  if (/did not make/.test(reason)) return 'foreign_route';
  if (/cluster CIDR|overlaps this node|default route/.test(reason)) return 'outside_cluster';
  return 'other';
}

const SKIP_REASONS = ['no_podcidr', 'yielded', 'conflict', 'invalid', 'next_hop', 'foreign_route', 'outside_cluster', 'other'];

const STATES: SourceState[] = ['listing', 'watching', 'backoff'];

export class AgentMetrics implements LoopObserver {
  readonly registry = new Registry();
  private readonly syncs: Counter<'reason' | 'result'>;
  private readonly duration: Histogram;
  private readonly writes: Counter;
  private readonly routes: Gauge<'family'>;
  private readonly failedPeers: Gauge;
  private readonly skipped: Gauge;
  private readonly ready: Gauge;
  private readonly events: Counter<'kind'>;
  private readonly lastOk: Gauge;
  private readonly skippedBy: Gauge<'reason'>;
  private readonly api: Histogram<'verb' | 'code'>;

  constructor(source: NodeSource, masqueradeErrors: () => number = () => 0) {
    const registers = [this.registry];
    processMetrics(registers);
    new Gauge({ name: 'flatnet_agent_build_info', help: 'Always 1: the version of flatnet and of its runtime, as labels', labelNames: ['version', 'runtime'], registers }).set({ version: VERSION, runtime: runtimeName() }, 1);
    this.syncs = new Counter({ name: 'flatnet_agent_syncs_total', help: 'Syncs of routes, masquerade and conflist, by what asked for them and result (ok: ran to the end, peers may still have failed; error: aborted)', labelNames: ['reason', 'result'], registers });
    this.lastOk = new Gauge({ name: 'flatnet_agent_last_successful_sync_timestamp_seconds', help: 'When the last sync that ran to the end finished (Unix time)', registers });
    this.skippedBy = new Gauge({ name: 'flatnet_agent_skipped_peers_by_reason', help: 'Peers left unrouted by the last sync, by class of reason (conflict: an InternalIP or podCIDR another Node gives too; yielded: being deleted or not posting status, beside its replacement)', labelNames: ['reason'], registers });
    this.api = new Histogram({ name: 'flatnet_agent_api_request_duration_seconds', help: 'Kubernetes API requests (list: to the last byte of a page; watch: to the answer), by verb and HTTP status code ("error": no answer)', labelNames: ['verb', 'code'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
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
    counter('flatnet_agent_masquerade_sync_errors_total', 'Syncs whose masquerade rules could not be written', masqueradeErrors);
    const rs = (): ReflectorStatus | undefined => {
      const st = source.status();
      return 'pages' in st ? (st as ReflectorStatus) : undefined;
    };
    if (rs()) {
      counter('flatnet_agent_node_relists_total', 'Node lists started over because the version was gone (410 on a watch or a continue token)', () => rs()!.relists);
      counter('flatnet_agent_node_list_pages_total', 'Node list pages received', () => rs()!.pages);
      counter('flatnet_agent_node_watches_total', 'Node watches started (a watch ends after minutes, or on an error, and is started again)', () => rs()!.watches);
      counter('flatnet_agent_node_watch_events_unchanged_total', 'Node watch events that changed nothing routing depends on (kubelet status heartbeats): no sync', () => rs()!.unchanged);
      new Counter({
        name: 'flatnet_agent_node_watch_events_total',
        help: 'Node watch events received, by type',
        labelNames: ['type'],
        registers,
        collect() {
          this.reset();
          for (const [type, n] of Object.entries(rs()!.events)) this.inc({ type }, n);
        },
      });
    }
  }

  /** One Kubernetes API request's time and status. */
  apiRequest(verb: 'list' | 'watch', code: string, seconds: number): void {
    this.api.observe({ verb, code }, seconds);
  }

  synced(r: SyncReport, seconds: number, why = ''): void {
    this.syncs.inc({ reason: syncReason(why), result: 'ok' });
    this.lastOk.set(Date.now() / 1000);
    const by = new Map(SKIP_REASONS.map((k) => [k, 0]));
    for (const s of r.plan.skipped) by.set(skipReason(s.reason), (by.get(skipReason(s.reason)) ?? 0) + 1);
    for (const [reason, n] of by) this.skippedBy.set({ reason }, n);
    this.duration.observe(seconds);
    this.writes.inc(r.routeWrites);
    const failed = new Set(r.failed.map((f) => f.podCIDR));
    for (const f of [4, 6] as const) this.routes.set({ family: String(f) }, r.plan.routes.filter((p) => p.family === f && !failed.has(formatCidr(p.dst))).length);
    this.failedPeers.set(r.failed.length);
    this.skipped.set(r.plan.skipped.length);
    this.ready.set(r.ready ? 1 : 0);
  }

  syncFailed(_e: Error, seconds: number, why = ''): void {
    this.syncs.inc({ reason: syncReason(why), result: 'error' });
    this.duration.observe(seconds);
  }

  kernelEvent(kind: string): void {
    this.events.inc({ kind });
  }
}

function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `bun ${bun}` : `node ${process.versions.node}`;
}

/** The process metrics Prometheus clients share, from what this runtime reports truthfully. */
function processMetrics(registers: Registry[]): void {
  const started = Date.now() / 1000 - process.uptime();
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent, in seconds',
    registers,
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size, in bytes',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({ name: 'process_start_time_seconds', help: 'When the process started (Unix time)', registers }).set(started);
}
