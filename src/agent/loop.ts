// The agent's one loop, whatever the node source: a sync runs when the source
// hands over a new node set, when the kernel reports a change (a link came
// back, a route was deleted by hand), after a failed sync (with backoff) and
// every resync period. Nothing is synced before the source's first complete
// node list, so an agent that starts while the API is down changes nothing.
// Syncs never overlap; triggers that arrive during one make one more after it.
import { log } from '../log.ts';
import type { KernelEvents } from '../sys/kernel.ts';
import type { SyncContext, SyncReport } from './agent.ts';
import { Backoff } from './backoff.ts';
import type { NodeInfo } from './nodes.ts';
import { describeSource, type NodeSource } from './source.ts';

export interface Syncer {
  sync(nodes: NodeInfo[], ctx: SyncContext): Promise<SyncReport>;
  /** Syncs whose masquerade rules could not be written, so far. */
  readonly masqueradeErrors?: number;
}

export interface LoopOptions {
  resyncMs: number;
  /** Wait after a node list change or a kernel event, so a burst is one sync. */
  debounceMs?: number;
  /** Least time from the end of a sync to one started by a kernel event: our own writes come back as events. */
  eventGapMs?: number;
  /** Delays before retrying a sync that failed or left peers unrouted. */
  retry?: Backoff;
  /** A sync running longer than this means the loop is wedged (/healthz fails). */
  wedgedMs?: number;
  now?: () => number;
}

export interface LoopObserver {
  /** `why`: what asked for the sync ("node watch event", "resync", "kernel event (route)", ...). */
  synced(r: SyncReport, seconds: number, why: string): void;
  syncFailed(e: Error, seconds: number, why: string): void;
  kernelEvent(what: string): void;
}

export interface LoopHealth {
  /** The process is alive and its loop not wedged. */
  alive: boolean;
  /** This node is synced and ready for pods. */
  ready: boolean;
  reason: string;
  /** Peers left unrouted because Nodes contest an InternalIP or podCIDR (a real conflict, not this node's fault): shown, not failed. */
  conflicts?: string;
}

export class AgentLoop {
  private nodes?: NodeInfo[];
  private timer?: NodeJS.Timeout;
  private due = Infinity;
  private why = '';
  private running = false;
  private stopped = false;
  private runningSince = 0;
  private again?: { why: string; kernelEvent: boolean };
  private lastEnd = 0;
  private last?: { report?: SyncReport; error?: string };
  private readonly retry: Backoff;
  private readonly now: () => number;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly agent: Syncer,
    readonly source: NodeSource,
    private readonly events: KernelEvents | undefined,
    private readonly o: LoopOptions,
    private readonly observer?: LoopObserver,
  ) {
    this.retry = o.retry ?? new Backoff(1000, Math.min(30_000, o.resyncMs));
    this.now = o.now ?? Date.now;
  }

  health(): LoopHealth {
    const wedged = this.running && this.now() - this.runningSince > (this.o.wedgedMs ?? 120_000);
    const alive = !wedged;
    const r = this.last?.report;
    const ready = !!r && !this.last?.error && r.ready;
    let reason: string;
    if (wedged) reason = `a sync has been running for ${Math.round((this.now() - this.runningSince) / 1000)} s`;
    else if (!this.nodes) reason = `no node list yet (${describeSource(this.source)})`;
    else if (!this.last) reason = 'not synced yet';
    else if (this.last.error) reason = `last sync failed: ${this.last.error}`;
    else if (!r!.ready) reason = r!.problem ?? 'not ready';
    else reason = 'ok';
    const contested = (r?.plan.skipped ?? []).filter((s) => /is also (given|claimed) by/.test(s.reason) && !/left to it$/.test(s.reason));
    const conflicts = contested.length ? `${contested.length} peer${contested.length === 1 ? '' : 's'} unrouted by a conflict: ${contested.slice(0, 3).map((s) => `${s.node}: ${s.reason}`).join('; ')}${contested.length > 3 ? '; ...' : ''}` : undefined;
    return { alive, ready, reason, ...(conflicts ? { conflicts } : {}) };
  }

  async run(signal: AbortSignal): Promise<void> {
    const stopEvents = this.events?.watch((what) => {
      this.observer?.kernelEvent(what);
      this.request(`kernel event (${what})`, this.o.debounceMs ?? 100, true);
    });
    const resync = setInterval(() => this.request('resync', 0), this.o.resyncMs);
    try {
      await this.source.run((nodes, why) => {
        this.nodes = nodes;
        this.request(why, this.o.debounceMs ?? 100);
      }, signal);
    } finally {
      // No sync starts after this (one asked for while the last one ran would
      // otherwise come after the caller's clean-up, e.g. the masquerade removal).
      this.stopped = true;
      clearInterval(resync);
      stopEvents?.();
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.idle();
    }
  }

  /** Asks for a sync within `delayMs` (sooner if one is already due sooner). */
  request(why: string, delayMs: number, kernelEvent = false): void {
    if (this.stopped) return;
    if (this.running) {
      this.again ??= { why, kernelEvent };
      return;
    }
    if (kernelEvent) delayMs = Math.max(delayMs, this.lastEnd + (this.o.eventGapMs ?? 1000) - this.now());
    const at = this.now() + delayMs;
    if (this.timer && this.due <= at) return;
    clearTimeout(this.timer);
    this.why = why;
    this.due = at;
    this.timer = setTimeout(() => void this.fire(), delayMs);
  }

  /** Resolves when no sync is running. */
  idle(): Promise<void> {
    return this.running ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.due = Infinity;
    if (!this.nodes || this.stopped) return; // before the first complete list: never sync
    this.running = true;
    this.runningSince = this.now();
    const why = this.why;
    let retryIn: number | undefined;
    try {
      const report = await this.agent.sync(this.source.current?.() ?? this.nodes, { why, source: describeSource(this.source) });
      this.last = { report };
      this.observer?.synced(report, (this.now() - this.runningSince) / 1000, why);
      if (report.failed.length || report.errors.length) retryIn = this.retry.next();
      else this.retry.reset();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.last = { ...this.last, error: err.message };
      this.observer?.syncFailed(err, (this.now() - this.runningSince) / 1000, why);
      await log('error', { why }, `sync failed: ${err.message}`);
      retryIn = this.retry.next();
    } finally {
      collectGarbage(this.now());
      this.running = false;
      this.lastEnd = this.now();
      for (const w of this.idleWaiters.splice(0)) w();
    }
    if (this.again !== undefined) {
      const again = this.again;
      this.again = undefined;
      this.request(again.why, this.o.debounceMs ?? 100, again.kernelEvent);
    }
    if (retryIn !== undefined) this.request('retry', retryIn);
  }
}

const GC_EVERY_MS = 10_000;
let lastGc = -Infinity;

/**
 * A full garbage collection after a sync, at most every GC_EVERY_MS. A sync
 * of 10,000 peers leaves megabytes of `ip -j` output and parsed routes
 * behind; Bun (the agent's runtime) collects lazily, so without this the
 * resident size grows by tens of MiB between collections, which is what the
 * DaemonSet's memory limit sees. A no-op under Node.
 */
function collectGarbage(now: number): void {
  if (now - lastGc < GC_EVERY_MS) return;
  lastGc = now;
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}
