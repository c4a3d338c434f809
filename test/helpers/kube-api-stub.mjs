// A stand-in for the Kubernetes API's node endpoints (no API server can run
// on these machines), run inside a test namespace with `ip netns exec` so an
// agent in that namespace reaches it on 127.0.0.1. It serves real v1.NodeList
// and watch-event JSON on /api/v1/nodes, and is driven by the test: one JSON
// command per line on stdin, one JSON report per line on stdout.
//
// Watches replay the events after their resourceVersion, as the API server
// does (no compaction: "gone" is only what the test asks for).
//
// Commands:
//   {"list": "ok" | "fail"}             LIST answers the nodes, or 500
//   {"watch": "ok" | "fail" | "gone"}   new WATCHes stream events, get 500, or get an ERROR event 410
//   {"set": [v1.Node, ...]}             replaces the nodes; open watches (when ok) get the events
//   {"closeWatches": true}              ends every open watch stream (the server's normal timeout)
// Reports: {"port": N} once, then {"req": "list" | "watch", "rv": "...", "status": N} per request.
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

const { values: opt } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, token: { type: 'string' } } });
const listen = /^(.*):(\d+)$/.exec(opt.listen);
if (!listen) throw new Error(`--listen ${opt.listen}: give HOST:PORT`);

let rv = 1;
let nodes = new Map();
const mode = { list: 'ok', watch: 'ok' };
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
    if (mode.watch === 'ok') for (const w of watchers) w.write(`${JSON.stringify({ type, object: obj })}\n`);
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
  if (!watch) {
    const status = mode.list === 'ok' ? 200 : 500;
    report({ req: 'list', status });
    if (status !== 200) return json(500, { kind: 'Status', code: 500, message: 'etcdserver: request timed out' });
    return json(200, { apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: String(rv) }, items: [...nodes.values()] });
  }
  const from = url.searchParams.get('resourceVersion');
  const status = mode.watch === 'fail' ? 500 : 200;
  report({ req: 'watch', rv: from, status, mode: mode.watch });
  if (status !== 200) return json(500, { kind: 'Status', code: 500, message: 'watch unavailable' });
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  if (mode.watch === 'gone') {
    res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${rv})` } })}\n`);
    return;
  }
  for (const e of history) if (e.rv > Number(from)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  watchers.add(res);
  req.on('close', () => watchers.delete(res));
}

const server = opt['tls-cert'] ? createHttpsServer({ cert: readFileSync(opt['tls-cert']), key: readFileSync(opt['tls-key']) }, handle) : createHttpServer(handle);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.list) mode.list = cmd.list;
  if (cmd.watch) mode.watch = cmd.watch;
  if (cmd.set) set(cmd.set);
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
