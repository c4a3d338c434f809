// A stand-in for the Kubernetes API's node endpoints (no API server can run
// on these machines), run inside a test namespace with `ip netns exec` so an
// agent in that namespace reaches it on 127.0.0.1. It serves real v1.NodeList
// and watch-event JSON on /api/v1/nodes, and is driven by the test: one JSON
// command per line on stdin, one JSON report per line on stdout.
//
// Watches replay the events after their resourceVersion, as the API server
// does (no compaction: "gone" is only what the test asks for).
//
// LISTs behave as kube-apiserver 1.20's: resourceVersion=0 is served from the
// watch cache, which ignores `limit` (everything in one answer); without a
// resourceVersion (or with the watch cache off) `limit` pages the list, each
// page's metadata.continue naming the next, all pages of one snapshot; a
// continue token whose snapshot was compacted answers 410 Expired. Answers
// above 128 KiB are gzipped at level 1 when the client accepts gzip (the
// APIResponseCompression feature), smaller ones are plain.
//
// Commands:
//   {"list": "ok" | "fail"}             LIST answers the nodes, or 500
//   {"watch": "ok" | "fail" | "gone"}   new WATCHes stream events, get 500, or get an ERROR event 410
//   {"set": [v1.Node, ...]}             replaces the nodes; open watches (when ok) get the events
//   {"closeWatches": true}              ends every open watch stream (the server's normal timeout)
//   {"watchCache": false}               resourceVersion=0 lists are paginated too (--watch-cache=false)
//   {"gzip": false}                     never compress (APIResponseCompression off)
//   {"expireContinue": true}            every continue token handed out so far answers 410 (compaction)
//   {"expireNextContinue": true}        the next request with a continue token answers 410 (compaction between two pages)
//   {"gzipMin": N}                      compress answers above N bytes (default 131072, as kube-apiserver)
//   {"generate": {"count": N, "self": {name, podCIDR, ip}}}
//                                       adds N real-sized Nodes n0..n(N-1) (test/helpers/real-node.mjs),
//                                       podCIDR 10.(64+i/256).(i%256).0/24, InternalIP 10.128.(1+i/250).(1+i%250)
//   {"heartbeat": {"count": K}}         K kubelet status updates (a new lastHeartbeatTime), round robin over the nodes
//   {"move": {"name": N, "ip": IP}}     node N's InternalIP becomes IP (a routing change)
// Reports: {"port": N} once, then {"req": "list" | "watch", "rv": "...", "status": N, ...} per request
// (lists: limit, continue, gzip, items).
//
// Options, for an in-cluster client (the service-account token and CA, over
// https, as the API server has them); without them: plain http on 127.0.0.1:
//   --listen HOST:PORT              where to listen (default 127.0.0.1:0)
//   --tls-cert FILE --tls-key FILE  serve https with this certificate
//   --token TOKEN                   answer 401 unless "Authorization: Bearer TOKEN"
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { realSizedNode } from './real-node.mjs';

const { values: opt } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, token: { type: 'string' } } });
const listen = /^(.*):(\d+)$/.exec(opt.listen);
if (!listen) throw new Error(`--listen ${opt.listen}: give HOST:PORT`);

let rv = 1;
let beat = 0;
let nodes = new Map();
const mode = { list: 'ok', watch: 'ok', watchCache: true, gzip: true };
// kube-apiserver's own threshold (defaultGzipThresholdBytes) and level.
let gzipMin = 128 * 1024;
let expireNext = false;
// Continue tokens: snapshot id -> the items' texts, as of the first page.
const snapshots = new Map();
let snapshotSeq = 0;
// Serialized objects, kept beside the nodes so a 10,000-Node list is not re-serialized for every request.
const texts = new WeakMap();
const textOf = (o) => {
  let t = texts.get(o);
  if (t === undefined) texts.set(o, (t = JSON.stringify(o)));
  return t;
};
const watchers = new Set();
// Every event so far: a watch from an older version replays what it missed, as the API server does.
const history = [];
const report = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const withRv = (n, v) => ({ ...n, metadata: { ...n.metadata, resourceVersion: String(v) } });

function set(list) {
  const next = new Map(list.map((n) => [n.metadata.name, n]));
  const events = [];
  for (const [name, n] of next) {
    const old = nodes.get(name);
    if (!old) events.push(['ADDED', n]);
    else if (JSON.stringify({ ...old, metadata: {} }) !== JSON.stringify({ ...n, metadata: {} })) events.push(['MODIFIED', n]);
  }
  for (const [name, n] of nodes) if (!next.has(name)) events.push(['DELETED', n]);
  nodes = new Map();
  for (const [name, n] of next) nodes.set(name, withRv(n, rv));
  for (const [type, n] of events) {
    rv++;
    const obj = withRv(n, rv);
    if (type !== 'DELETED') nodes.set(n.metadata.name, obj);
    history.push({ rv, type, object: obj });
    if (mode.watch === 'ok') for (const w of watchers) w.write(`{"type":${JSON.stringify(type)},"object":${textOf(obj)}}\n`);
  }
}

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  const watch = url.searchParams.get('watch') === 'true';
  const json = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (opt.token !== undefined && req.headers.authorization !== `Bearer ${opt.token}`) {
    report({ req: watch ? 'watch' : 'list', status: 401, auth: req.headers.authorization ? 'wrong token' : 'none' });
    return json(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
  }
  if (url.pathname !== '/api/v1/nodes') return json(404, { kind: 'Status', code: 404, message: 'not found' });
  if (!watch) return list(req, res, url, json);
  const from = url.searchParams.get('resourceVersion');
  const status = mode.watch === 'fail' ? 500 : 200;
  report({ req: 'watch', rv: from, status, mode: mode.watch });
  if (status !== 200) return json(500, { kind: 'Status', code: 500, message: 'watch unavailable' });
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  if (mode.watch === 'gone') {
    res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${rv})` } })}\n`);
    return;
  }
  for (const e of history) if (e.rv > Number(from)) res.write(`{"type":${JSON.stringify(e.type)},"object":${textOf(e.object)}}\n`);
  watchers.add(res);
  req.on('close', () => watchers.delete(res));
}

function event(type, obj) {
  rv++;
  const o = withRv(obj, rv);
  if (type !== 'DELETED') nodes.set(o.metadata.name, o);
  history.push({ rv, type, object: o });
  if (mode.watch === 'ok') for (const w of watchers) w.write(`{"type":${JSON.stringify(type)},"object":${textOf(o)}}\n`);
}

function list(req, res, url, json) {
  const limit = Number(url.searchParams.get('limit') ?? 0);
  const from = url.searchParams.get('resourceVersion');
  const token = url.searchParams.get('continue');
  const gzipOk = mode.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const status = mode.list === 'ok' ? 200 : 500;
  const rep = { req: 'list', rv: from ?? undefined, limit: limit || undefined, continue: token ?? undefined, status };
  if (status !== 200) {
    report(rep);
    return json(500, { kind: 'Status', code: 500, message: 'etcdserver: request timed out' });
  }
  let snap;
  let start = 0;
  if (token) {
    const t = JSON.parse(Buffer.from(token, 'base64').toString());
    snap = snapshots.get(t.id);
    if (expireNext) {
      expireNext = false;
      snapshots.clear();
      snap = undefined;
    }
    if (!snap) {
      report({ ...rep, status: 410 });
      return json(410, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.' });
    }
    start = t.start;
  } else {
    snap = { id: ++snapshotSeq, rv, items: [...nodes.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)).map(textOf) };
  }
  // The watch cache answers resourceVersion=0 whole, whatever the limit (1.20).
  const paged = limit > 0 && !(from === '0' && mode.watchCache && !token);
  const end = paged ? Math.min(snap.items.length, start + limit) : snap.items.length;
  let cont;
  if (paged && end < snap.items.length) {
    snapshots.set(snap.id, snap);
    cont = Buffer.from(JSON.stringify({ id: snap.id, start: end })).toString('base64');
  } else snapshots.delete(snap.id);
  const head = `{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"${snap.rv}"${cont ? `,"continue":"${cont}"` : ''}},"items":[`;
  let size = head.length + 2;
  for (let i = start; i < end; i++) size += snap.items[i].length + 1;
  const gz = gzipOk && size > gzipMin;
  report({ ...rep, gzip: gz, items: end - start });
  res.writeHead(200, { 'content-type': 'application/json', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
  const out = gz ? createGzip({ level: 1 }) : res;
  if (gz) out.pipe(res);
  void (async () => {
    out.write(head);
    for (let i = start; i < end; i += 100) {
      const part = snap.items.slice(i, Math.min(end, i + 100)).join(',');
      if (!out.write(i > start ? `,${part}` : part)) await new Promise((r) => out.once('drain', r));
    }
    out.end(']}');
  })();
}

const server = opt['tls-cert'] ? createHttpsServer({ cert: readFileSync(opt['tls-cert']), key: readFileSync(opt['tls-key']) }, handle) : createHttpServer(handle);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.list) mode.list = cmd.list;
  if (cmd.watch) mode.watch = cmd.watch;
  if (cmd.set) set(cmd.set);
  if (cmd.watchCache !== undefined) mode.watchCache = cmd.watchCache;
  if (cmd.gzip !== undefined) mode.gzip = cmd.gzip;
  if (cmd.expireContinue) snapshots.clear();
  if (cmd.expireNextContinue) expireNext = true;
  if (cmd.gzipMin !== undefined) gzipMin = cmd.gzipMin;
  if (cmd.generate) {
    const { count, self } = cmd.generate;
    if (self) event('ADDED', realSizedNode({ name: self.name, podCIDRs: [self.podCIDR], ips: [self.ip], seed: 999_999 }));
    for (let i = 0; i < count; i++) {
      event('ADDED', realSizedNode({ name: `n${i}`, podCIDRs: [`10.${64 + Math.floor(i / 256)}.${i % 256}.0/24`], ips: [`10.128.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`], seed: i }));
    }
  }
  if (cmd.heartbeat) {
    const all = [...nodes.values()];
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    for (let k = 0; k < cmd.heartbeat.count; k++) {
      const n = all[(beat++) % all.length];
      event('MODIFIED', { ...n, status: { ...n.status, conditions: n.status.conditions.map((c) => (c.type === 'Ready' ? { ...c, lastHeartbeatTime: at } : c)) } });
    }
  }
  if (cmd.move) {
    const n = nodes.get(cmd.move.name);
    event('MODIFIED', { ...n, status: { ...n.status, addresses: n.status.addresses.map((a) => (a.type === 'InternalIP' ? { ...a, address: cmd.move.ip } : a)) } });
  }
  if (cmd.closeWatches) {
    for (const w of watchers) w.end();
    watchers.clear();
  }
  report({ done: line.trim() });
}).on('close', () => {
  server.closeAllConnections();
  server.close();
});

server.listen(Number(listen[2]), listen[1], () => report({ port: server.address().port }));
