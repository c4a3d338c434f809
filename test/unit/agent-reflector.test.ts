// The Kubernetes node source (list+watch) against a scripted API: what it
// hands the agent, and when. The rule under test: only a successful LIST
// replaces the node set; every failure keeps the last one.
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/agent/backoff.ts';
import { type NodeInfo, type NodePage, pageOf } from '../../src/agent/nodes.ts';
import { ApiError, type ListQuery, type NodeApi, NodeReflector } from '../../src/agent/reflector.ts';
import { configureLog } from '../../src/log.ts';

configureLog({ level: 'silent' });

const v1 = (name: string, cidr: string, ip: string, rv: number) => ({ kind: 'Node', metadata: { name, resourceVersion: String(rv) }, spec: { podCIDRs: [cidr] }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const list = (rv: number, ...items: unknown[]) => ({ kind: 'NodeList', metadata: { resourceVersion: String(rv) }, items });
const ev = (type: string, object: unknown) => ({ type, object });

type Step = { list: unknown } | { watch: { events?: unknown[]; end?: Error } };

/** An API that plays `steps` in order and records the calls; aborts the run when the script is done. */
class ScriptedApi implements NodeApi {
  readonly server = 'https://api.test';
  readonly calls: string[] = [];
  constructor(
    private readonly steps: Step[],
    private readonly ac: AbortController,
  ) {}

  private next(kind: 'list' | 'watch'): Step | undefined {
    const s = this.steps.shift();
    if (!s) {
      this.ac.abort();
      return undefined;
    }
    if (!(kind in s)) throw new Error(`script wanted ${Object.keys(s)[0]}, reflector called ${kind}`);
    return s;
  }

  async list(q: ListQuery): Promise<NodePage> {
    this.calls.push(q.continue ? `list continue ${q.continue}` : q.resourceVersion === '0' ? 'list' : `list${q.resourceVersion === undefined ? ' fresh' : ` at ${q.resourceVersion}`}`);
    const s = this.next('list') as { list: unknown } | undefined;
    if (!s) throw new ApiError('script done');
    if (s.list instanceof Error) throw s.list;
    return pageOf(s.list);
  }

  async watch(rv: string): Promise<AsyncIterable<unknown>> {
    this.calls.push(`watch from ${rv}`);
    const s = this.next('watch') as { watch: { events?: unknown[]; end?: Error } } | undefined;
    if (!s) throw new ApiError('script done');
    const { events = [], end } = s.watch;
    if (end && events.length === 0) throw end;
    return (async function* () {
      for (const e of events) yield e;
      if (end) throw end;
    })();
  }
}

async function play(steps: Step[], random = () => 0.5) {
  const ac = new AbortController();
  const api = new ScriptedApi(steps, ac);
  const sleeps: number[] = [];
  let t = 0;
  const r = new NodeReflector(api, { backoff: new Backoff(1000, 30_000, random), goneBackoff: new Backoff(1000, 30_000, random), sleep: async (ms) => void sleeps.push(ms), now: () => (t += 5000) });
  const seen: Array<{ why: string; nodes: string[] }> = [];
  const states: string[] = [];
  await r.run((nodes: NodeInfo[], why) => {
    seen.push({ why, nodes: nodes.map((n) => `${n.name} ${n.podCIDRs[0]} ${n.internalIPs[0]}`).sort() });
    states.push(r.status().state);
  }, ac.signal);
  return { calls: api.calls, sleeps, seen, status: r.status() };
}

const err500 = new ApiError('HTTP 500: etcd unavailable', 500);

describe('Kubernetes node source', () => {
  it('hands over nothing while the list fails, retrying with a doubling, capped, jittered delay', async () => {
    const fails = Array.from({ length: 8 }, () => ({ list: err500 }));
    const r = await play([...fails, { list: list(5, v1('a', '10.244.1.0/24', '10.0.0.1', 5)) }]);
    expect(r.seen.map((s) => s.nodes)).toEqual([['a 10.244.1.0/24 10.0.0.1']]);
    // random 0.5: three quarters of 1, 2, 4, 8, 16, 30 (cap), 30, 30 s.
    expect(r.sleeps.slice(0, 8)).toEqual([750, 1500, 3000, 6000, 12000, 22500, 22500, 22500]);
    expect(r.status.errors).toBe(8);
  });

  it('draws each delay from the upper half of its step', async () => {
    const lo = await play([{ list: err500 }, { list: err500 }], () => 0);
    const hi = await play([{ list: err500 }, { list: err500 }], () => 0.999999);
    expect(lo.sleeps).toEqual([500, 1000]);
    expect(hi.sleeps).toEqual([1000, 2000]);
  });

  it.each([
    ['{}', {}],
    ['null', null],
    ['items that are not Nodes', { kind: 'NodeList', metadata: { resourceVersion: '3' }, items: [{ kind: 'Pod' }] }],
    ['a list without resourceVersion', { kind: 'NodeList', items: [] }],
  ])('takes %s from the API as a failed list, not as "no nodes"', async (_what, doc) => {
    const r = await play([{ list: doc }]);
    expect(r.seen).toEqual([]);
    expect(r.status.errors).toBe(1);
  });

  it('follows watch events, and resumes a watch the server ends from the last resourceVersion seen', async () => {
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { watch: { events: [ev('ADDED', v1('b', '10.244.2.0/24', '10.0.0.2', 11)), ev('MODIFIED', v1('a', '10.244.1.0/24', '10.0.0.11', 12))] } },
      { watch: { events: [ev('BOOKMARK', { kind: 'Node', metadata: { resourceVersion: '20' } }), ev('DELETED', v1('b', '10.244.2.0/24', '10.0.0.2', 21))] } },
    ]);
    expect(r.calls.slice(0, 3)).toEqual(['list', 'watch from 10', 'watch from 12']);
    expect(r.calls[3]).toBe('watch from 21');
    expect(r.seen.map((s) => s.nodes)).toEqual([
      ['a 10.244.1.0/24 10.0.0.1'],
      ['a 10.244.1.0/24 10.0.0.1', 'b 10.244.2.0/24 10.0.0.2'],
      ['a 10.244.1.0/24 10.0.0.11', 'b 10.244.2.0/24 10.0.0.2'],
      ['a 10.244.1.0/24 10.0.0.11'],
    ]);
    expect(r.sleeps).toEqual([]); // a watch that ended normally is resumed at once
  });

  it('keeps the node set through a failed watch and watches again from the same version after a delay', async () => {
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { watch: { end: new ApiError('HTTP 500', 500) } },
      { watch: { events: [ev('ADDED', v1('b', '10.244.2.0/24', '10.0.0.2', 11))], end: new Error('socket hang up') } },
      { watch: { events: [ev('DELETED', v1('a', '10.244.1.0/24', '10.0.0.1', 12))] } },
    ]);
    expect(r.calls.slice(0, 4)).toEqual(['list', 'watch from 10', 'watch from 10', 'watch from 11']);
    expect(r.sleeps).toEqual([750, 750]);
    expect(r.seen.map((s) => s.nodes)).toEqual([['a 10.244.1.0/24 10.0.0.1'], ['a 10.244.1.0/24 10.0.0.1', 'b 10.244.2.0/24 10.0.0.2'], ['b 10.244.2.0/24 10.0.0.2']]);
  });

  it('lists again when the version is gone (410 as an ERROR event or as the HTTP status), and the new list replaces the set', async () => {
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9), v1('b', '10.244.2.0/24', '10.0.0.2', 9)) },
      { watch: { events: [ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (50)' })] } },
      { list: list(50, v1('a', '10.244.1.0/24', '10.0.0.1', 9), v1('c', '10.244.3.0/24', '10.0.0.3', 49)) },
      { watch: { end: new ApiError('HTTP 410: gone', 410) } },
      { list: list(60, v1('c', '10.244.3.0/24', '10.0.0.3', 49)) },
    ]);
    // The first list from the API's cache (resourceVersion=0); after a 410 the newest state (no resourceVersion).
    expect(r.calls.slice(0, 5)).toEqual(['list', 'watch from 10', 'list fresh', 'watch from 50', 'list fresh']);
    expect(r.seen.map((s) => s.nodes)).toEqual([
      ['a 10.244.1.0/24 10.0.0.1', 'b 10.244.2.0/24 10.0.0.2'],
      ['a 10.244.1.0/24 10.0.0.1', 'c 10.244.3.0/24 10.0.0.3'],
      ['c 10.244.3.0/24 10.0.0.3'],
    ]);
    expect(r.seen.map((s) => s.why)).toEqual(['node list', 'node list', 'node list']);
    expect(r.status.relists).toBe(2);
    expect(r.sleeps).toEqual([750]); // the second 410 in a row without an event waits before listing
  });

  // Found from outside: an ERROR event counted as progress, so a server that
  // answered every watch with a 410 event was listed ~100 times a second.
  it('waits longer and longer while every watch ends in a 410 event, until a watch brings an event', async () => {
    const gone = { watch: { events: [ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' })] } };
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      gone,
      { list: list(11, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      gone,
      { list: list(12, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      gone,
      { list: list(13, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      gone,
      { list: list(14, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { watch: { events: [ev('ADDED', v1('b', '10.244.2.0/24', '10.0.0.2', 15))] } },
      { watch: { events: [ev('ERROR', { kind: 'Status', code: 410, message: 'too old' })] } },
      { list: list(20, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
    ]);
    expect(r.sleeps).toEqual([750, 1500, 3000]); // the first 410 relists at once; after an event, again at once
    expect(r.status.relists).toBe(5);
  });

  it('recovers after an outage: list failures, then the list, then changes from the watch', async () => {
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { watch: { end: new ApiError('HTTP 503', 503) } },
      { watch: { end: new ApiError('HTTP 503', 503) } },
      { watch: { end: new ApiError('HTTP 410', 410) } },
      { list: err500 },
      { list: list(30, v1('a', '10.244.1.0/24', '10.0.0.1', 9), v1('d', '10.244.4.0/24', '10.0.0.4', 29)) },
      { watch: { events: [ev('ADDED', v1('e', '10.244.5.0/24', '10.0.0.5', 31))] } },
    ]);
    expect(r.calls.slice(0, 7)).toEqual(['list', 'watch from 10', 'watch from 10', 'watch from 10', 'list fresh', 'list fresh', 'watch from 30']);
    expect(r.seen.map((s) => s.nodes.map((n) => n.split(' ')[0]))).toEqual([['a'], ['a', 'd'], ['a', 'd', 'e']]);
    expect(r.sleeps).toEqual([750, 1500, 3000]);
  });

  it('ignores an event whose object is not a Node, and treats garbage on the stream as a failed watch', async () => {
    const r = await play([
      { list: list(10, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { watch: { events: [ev('ADDED', { kind: 'Node', metadata: { resourceVersion: '11' } }), 'not an event'] } },
      { watch: { events: [ev('ADDED', v1('b', '10.244.2.0/24', '10.0.0.2', 12))] } },
    ]);
    expect(r.calls.slice(0, 3)).toEqual(['list', 'watch from 10', 'watch from 11']);
    expect(r.seen.map((s) => s.nodes.map((n) => n.split(' ')[0]))).toEqual([['a'], ['a', 'b']]);
  });

  it('lists in pages of 500 with continue, the first from the cache, and watches from the last page\'s version', async () => {
    const page = (rv: number, cont: string | undefined, ...items: unknown[]) => ({ ...list(rv, ...items), metadata: { resourceVersion: String(rv), ...(cont ? { continue: cont } : {}) } });
    const ac = new AbortController();
    const queries: unknown[] = [];
    const api = new ScriptedApi(
      [
        { list: page(10, 'p2', v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
        { list: page(10, 'p3', v1('b', '10.244.2.0/24', '10.0.0.2', 9)) },
        { list: page(10, undefined, v1('c', '10.244.3.0/24', '10.0.0.3', 9)) },
        { watch: {} },
      ],
      ac,
    );
    const orig = api.list.bind(api);
    api.list = async (q: ListQuery) => (queries.push(q), orig(q));
    const seen: string[][] = [];
    await new NodeReflector(api, { sleep: async () => undefined }).run((nodes) => seen.push(nodes.map((n) => n.name)), ac.signal);
    expect(queries.slice(0, 3)).toEqual([{ limit: 500, resourceVersion: '0' }, { limit: 500, continue: 'p2' }, { limit: 500, continue: 'p3' }]);
    expect(api.calls).toContain('watch from 10');
    // One node set from the three pages, handed over once.
    expect(seen).toEqual([['a', 'b', 'c']]);
  });

  it('starts the list over, fresh, when a continue token expired (410), never mixing two snapshots', async () => {
    const page = (rv: number, cont: string | undefined, ...items: unknown[]) => ({ ...list(rv, ...items), metadata: { resourceVersion: String(rv), ...(cont ? { continue: cont } : {}) } });
    const r = await play([
      { list: page(10, 'p2', v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { list: new ApiError('HTTP 410: The provided continue parameter is too old', 410) },
      { list: page(40, 'q2', v1('a', '10.244.1.0/24', '10.0.0.1', 9)) },
      { list: page(40, undefined, v1('d', '10.244.4.0/24', '10.0.0.4', 39)) },
      { watch: {} },
    ]);
    expect(r.calls.slice(0, 5)).toEqual(['list', 'list continue p2', 'list fresh', 'list continue q2', 'watch from 40']);
    expect(r.seen.map((s) => s.nodes.map((n) => n.split(' ')[0]))).toEqual([['a', 'd']]);
    expect(r.status.relists).toBe(1);
    expect(r.sleeps).toEqual([]);
  });

  it('takes a node listed on two pages as a failed list', async () => {
    const page = (rv: number, cont: string | undefined, ...items: unknown[]) => ({ ...list(rv, ...items), metadata: { resourceVersion: String(rv), ...(cont ? { continue: cont } : {}) } });
    const r = await play([{ list: page(10, 'p2', v1('a', '10.244.1.0/24', '10.0.0.1', 9)) }, { list: page(10, undefined, v1('a', '10.244.1.0/24', '10.0.0.1', 9)) }]);
    expect(r.seen).toEqual([]);
    expect(r.status.error).toMatch(/listed twice/);
  });

  it('hands over nothing for a MODIFIED event that changes nothing routed (a kubelet heartbeat), but keeps its times', async () => {
    const beat = (rv: number, at: string, extra: object = {}) => ({
      ...v1('a', '10.244.1.0/24', '10.0.0.1', rv),
      status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: at }], images: [{ names: [`img${rv}`] }], ...extra },
    });
    const ac = new AbortController();
    const api = new ScriptedApi(
      [
        { list: list(10, beat(9, '2026-01-01T00:00:00Z')) },
        { watch: { events: [ev('MODIFIED', beat(11, '2026-01-01T00:00:10Z')), ev('MODIFIED', beat(12, '2026-01-01T00:00:20Z')), ev('MODIFIED', { ...beat(13, '2026-01-01T00:00:30Z'), spec: { podCIDRs: ['10.244.9.0/24'] } })] } },
      ],
      ac,
    );
    const r = new NodeReflector(api, { sleep: async () => undefined });
    const seen: string[] = [];
    const beats: number[] = [];
    await r.run((nodes, why) => {
      seen.push(`${why}: ${nodes[0]!.podCIDRs[0]}`);
      beats.push(r.current()![0]!.heartbeatMs!);
    }, ac.signal);
    expect(seen).toEqual(['node list: 10.244.1.0/24', 'node watch event: 10.244.9.0/24']);
    expect(beats).toEqual([Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:30Z')]);
    expect(r.status().unchanged).toBe(2);
    expect(r.status().events).toEqual({ MODIFIED: 3 });
  });
});
