// The Kubernetes node source: LIST, then WATCH from the list's
// resourceVersion, as client-go's reflector does. Only a successful LIST
// replaces the node set; a failed list or watch keeps the last one and
// retries with a capped, jittered backoff; a watch the server ends normally
// is resumed from the last resourceVersion seen; a watch answered with
// 410 Gone (HTTP status or an ERROR event) means that version is too old,
// so the reflector lists again. The HTTP is behind NodeApi (kube-api.ts), so
// all of this is tested without a server.
//
// The LIST is taken as client-go's reflector takes it: in pages of
// PAGE_SIZE (`limit`/`continue`), the first one at resourceVersion=0 so the
// API server answers from its watch cache instead of a quorum read of etcd
// (a server that ignores `limit` there, as 1.20's watch cache does, answers
// everything at once: the API layer reads that as a stream). After a 410
// (the watch's version, or a page's `continue`, expired) the list starts over
// from scratch with no resourceVersion: the newest state, paginated.
// Events that change nothing routing looks at (kubelet's status heartbeats)
// update the node set without handing it over: they cost no sync.
import { isObject } from '../cni/json.ts';
import { log } from '../log.ts';
import { Backoff, sleep } from './backoff.ts';
import { fromV1Node, type NodeInfo, NodeListError, type NodePage, routingKey } from './nodes.ts';
import type { NodeSource, SourceStatus } from './source.ts';

/** A failed API call: `status` when the server answered. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One LIST request's parameters. No resourceVersion: the newest state (a quorum read). */
export interface ListQuery {
  limit: number;
  resourceVersion?: string;
  continue?: string;
}

export interface NodeApi {
  /** The server, for logs. */
  readonly server: string;
  /**
   * GET /api/v1/nodes: one page of the v1.NodeList, each Node already reduced
   * to what routing needs. Throws on failure (ApiError with the status when
   * there was one: 410 when the `continue` token expired).
   */
  list(q: ListQuery, signal: AbortSignal): Promise<NodePage>;
  /**
   * GET /api/v1/nodes?watch=true from `resourceVersion`. Resolves once the
   * server accepted the watch, to its events as parsed JSON, which end when
   * the server ends the stream. Throws (or the events throw) on failure:
   * ApiError 410 when the version is gone.
   */
  watch(resourceVersion: string, signal: AbortSignal): Promise<AsyncIterable<unknown>>;
}

/** Seconds and status of each API request: `code` is the HTTP status, or "error" when none came. */
export type RequestObserver = (verb: 'list' | 'watch', code: string, seconds: number) => void;

export interface ReflectorOptions {
  backoff?: Backoff;
  /** Waits between relists while every watch ends in 410 at once (a successful LIST does not reset it). */
  goneBackoff?: Backoff;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** The version is too old to watch from: list again. */
class Gone extends Error {}

// A watch that ends sooner than this without an event is treated like a
// failure (backoff), so a server that closes every watch at once is not
// hammered.
const MIN_QUIET_WATCH_MS = 1000;
/** Nodes per LIST page, as client-go's pager. */
export const PAGE_SIZE = 500;

/** What the reflector counted, for metrics. */
export interface ReflectorStatus extends SourceStatus {
  /** Lists started over because the version was gone (a watch's or a page's `continue`). */
  relists: number;
  /** LIST requests answered (pages). */
  pages: number;
  /** Watch events by type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). */
  events: Record<string, number>;
  /** Watch events that changed nothing routing depends on (kubelet heartbeats): applied without a sync. */
  unchanged: number;
  /** Watches started. */
  watches: number;
}

export class NodeReflector implements NodeSource {
  readonly name: string;
  private st: ReflectorStatus = { state: 'listing', lists: 0, errors: 0, relists: 0, pages: 0, events: {}, unchanged: 0, watches: 0 };
  /** The next list is a fresh one (no resourceVersion): the last version was gone. */
  private fresh = false;
  private readonly backoff: Backoff;
  private readonly goneBackoff: Backoff;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private nodes = new Map<string, NodeInfo>();
  private rv = '';
  private observe: RequestObserver = () => undefined;

  constructor(
    private readonly api: NodeApi,
    o: ReflectorOptions = {},
  ) {
    this.name = `Kubernetes API ${api.server}`;
    this.backoff = o.backoff ?? new Backoff();
    this.goneBackoff = o.goneBackoff ?? new Backoff();
    this.sleep = o.sleep ?? sleep;
    this.now = o.now ?? Date.now;
  }

  /** Where each API request's time and status goes (metrics). */
  observeRequests(f: RequestObserver): void {
    this.observe = f;
  }

  /** One API call, timed: a list until its last byte, a watch until its answer's headers. */
  private async timed<T>(verb: 'list' | 'watch', call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let code = 'error';
    try {
      const out = await call();
      code = '200';
      return out;
    } catch (e) {
      if (e instanceof ApiError && e.status !== undefined) code = String(e.status);
      throw e;
    } finally {
      this.observe(verb, code, (performance.now() - started) / 1000);
    }
  }

  current(): NodeInfo[] | undefined {
    return this.st.lists > 0 ? [...this.nodes.values()] : undefined;
  }

  status(): ReflectorStatus {
    return { ...this.st, events: { ...this.st.events } };
  }

  async run(onNodes: (nodes: NodeInfo[], why: string) => void, signal: AbortSignal): Promise<void> {
    const emit = (why: string): void => onNodes([...this.nodes.values()], why);
    // 410s in a row with no event between them: a server that expires every
    // version at once is relisted after a growing wait, not in a tight loop
    // (a successful LIST does not reset this one: only a watch event does).
    let gones = 0;
    while (!signal.aborted) {
      if (!(await this.list(signal))) continue;
      emit('node list');
      // Watch from the list's version until the version is gone.
      for (;;) {
        if (signal.aborted) return;
        const { end, events } = await this.watchOnce(signal, emit);
        if (events > 0) {
          gones = 0;
          this.goneBackoff.reset();
        }
        if (end === 'gone') {
          this.st.relists++;
          this.fresh = true;
          if (gones++ > 0) {
            const wait = this.goneBackoff.next();
            await log('warn', { server: this.api.server, gonesInARow: gones }, `node watch: resourceVersion gone (410) again with no event between; listing again in ${wait} ms`);
            await this.sleep(wait, signal);
          } else await log('info', { server: this.api.server }, 'node watch: resourceVersion gone (410), listing again');
          break;
        }
        if (end === 'failed' || end === 'quiet') await this.sleep(this.backoff.next(), signal);
      }
    }
  }

  /** One complete LIST, page by page; false (after the backoff wait) when it failed. */
  private async list(signal: AbortSignal): Promise<boolean> {
    this.st.state = this.st.state === 'backoff' ? 'backoff' : 'listing';
    try {
      const started = this.now();
      const pagesBefore = this.st.pages;
      const { nodes, rv } = await this.pages(signal);
      await log('info', { server: this.api.server, nodes: nodes.size, pages: this.st.pages - pagesBefore, ms: this.now() - started }, 'node list taken');
      // The list's texts (up to ~136 MB for 10,000 kubelet-reported Nodes) are garbage now: Bun would keep them resident for a while.
      (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
      this.nodes = nodes;
      this.rv = rv;
      this.fresh = false;
      if (this.st.error) await log('info', { server: this.api.server }, 'node list recovered');
      this.st = { ...this.st, state: 'watching', lists: this.st.lists + 1, error: undefined };
      this.backoff.reset();
      return true;
    } catch (e) {
      if (signal.aborted) return false;
      await this.failed('list', e);
      await this.sleep(this.backoff.next(), signal);
      return false;
    }
  }

  /**
   * Every page of one list into one node set. A page whose `continue` has
   * expired (410) starts the list over, fresh: pages of two snapshots are
   * never mixed.
   */
  private async pages(signal: AbortSignal): Promise<{ nodes: Map<string, NodeInfo>; rv: string }> {
    for (let restarts = 0; ; restarts++) {
      const nodes = new Map<string, NodeInfo>();
      let cont: string | undefined;
      let rv = '';
      try {
        do {
          const q: ListQuery = cont ? { limit: PAGE_SIZE, continue: cont } : { limit: PAGE_SIZE, ...(this.fresh ? {} : { resourceVersion: '0' }) };
          const page = await this.timed('list', () => this.api.list(q, signal));
          this.st.pages++;
          for (const n of page.nodes) {
            if (nodes.has(n.name)) throw new NodeListError(`node ${JSON.stringify(n.name)} is listed twice`);
            nodes.set(n.name, n);
          }
          rv = page.resourceVersion;
          cont = page.continue;
        } while (cont);
        return { nodes, rv };
      } catch (e) {
        // Only a page after the first can have an expired token; a second expiry in a row is a failure like any other.
        if (!(cont && e instanceof ApiError && e.status === 410) || restarts > 0 || signal.aborted) throw e;
        this.st.relists++;
        this.fresh = true;
        await log('info', { server: this.api.server, nodesSoFar: nodes.size }, 'node list: continue token expired (410), listing again from the start');
      }
    }
  }

  private async failed(what: string, e: unknown): Promise<void> {
    const error = (e as Error).message ?? String(e);
    this.st.errors++;
    if (error !== this.st.error) await log('error', { server: this.api.server }, `node ${what} failed (routes stay as they are; retrying): ${error}`);
    this.st.error = error;
    this.st.state = 'backoff';
  }

  /** One WATCH from the current version; how it ended. */
  private async watchOnce(signal: AbortSignal, emit: (why: string) => void): Promise<{ end: 'ended' | 'quiet' | 'gone' | 'failed'; events: number }> {
    const started = this.now();
    let events = 0;
    try {
      const rv = this.rv;
      const stream = await this.timed('watch', () => this.api.watch(rv, signal));
      this.st.watches++;
      if (this.st.error) await log('info', { server: this.api.server }, 'node watch recovered');
      this.st = { ...this.st, state: 'watching', error: undefined };
      this.backoff.reset();
      for await (const ev of stream) {
        // Counted once applied: an ERROR event (a 410 among them) is no progress.
        if (this.apply(ev)) emit('node watch event');
        events++;
      }
    } catch (e) {
      if (signal.aborted) return { end: 'ended', events };
      if (e instanceof Gone || (e instanceof ApiError && e.status === 410)) return { end: 'gone', events };
      await this.failed('watch', e);
      return { end: 'failed', events };
    }
    if (events === 0 && this.now() - started < MIN_QUIET_WATCH_MS) return { end: 'quiet', events };
    return { end: 'ended', events };
  }

  /** Applies one watch event to the node set; true when the set changed. Throws Gone or ApiError for ERROR events. */
  private apply(ev: unknown): boolean {
    if (!isObject(ev) || typeof ev.type !== 'string') throw new ApiError(`not a watch event: ${JSON.stringify(ev)?.slice(0, 80)}`);
    this.st.events[ev.type] = (this.st.events[ev.type] ?? 0) + 1;
    const obj = ev.object;
    if (ev.type === 'ERROR') {
      const code = isObject(obj) ? obj.code : undefined;
      const msg = isObject(obj) && typeof obj.message === 'string' ? obj.message : JSON.stringify(obj);
      if (code === 410) throw new Gone(msg);
      throw new ApiError(`watch error event: ${msg}`, typeof code === 'number' ? code : undefined);
    }
    const rv = isObject(obj) && isObject(obj.metadata) ? obj.metadata.resourceVersion : undefined;
    if (typeof rv === 'string' && rv !== '') this.rv = rv;
    if (ev.type === 'BOOKMARK') return false;
    const node = fromV1Node(obj);
    if (!node) {
      void log('warn', { type: ev.type }, 'ignoring a watch event whose object is not a v1.Node');
      return false;
    }
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
      const was = this.nodes.get(node.name);
      this.nodes.set(node.name, node);
      if (was && routingKey(was) === routingKey(node)) {
        this.st.unchanged++;
        return false;
      }
    } else if (ev.type === 'DELETED') this.nodes.delete(node.name);
    else return false;
    return true;
  }
}
