// NodeApi over HTTP(S): GET /api/v1/nodes and its watch stream. The
// Kubernetes client library only loads the kubeconfig (or the in-cluster
// service account) and puts its TLS material and credentials on each
// request, so token files and exec plugins are re-read as the library does.
// Loaded only when the agent runs against an API.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ListItemSplitter, ListStreamError } from './list-stream.ts';
import { fromV1Node, type NodeInfo, type NodePage, pageMeta } from './nodes.ts';
import { ApiError, type ListQuery, type NodeApi } from './reflector.ts';

/** How long a LIST may stay silent (FLATNET_API_TIMEOUT_MS overrides it, e.g. for a slow API server or a test). */
const LIST_TIMEOUT_MS = Number(process.env.FLATNET_API_TIMEOUT_MS) > 0 ? Number(process.env.FLATNET_API_TIMEOUT_MS) : 60_000;
/** Asked of the server; it ends the watch after this (and the reflector resumes it). */
const WATCH_SECONDS = 300;
/** A watch with no byte for this long is dead (a half-open connection), even if the server never closes it. */
const WATCH_SILENCE_MS = (WATCH_SECONDS + 30) * 1000;
/** The most one error answer, one watch event or one list item may hold. */
const MAX_BODY = 64 * 1024 * 1024;

type Options = () => Promise<RequestOptions>;

export async function kubeNodeApi(kubeconfig: string | undefined): Promise<NodeApi> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new Error(kubeconfig ? `${kubeconfig} has no current cluster with a server` : 'no in-cluster API server (KUBERNETES_SERVICE_HOST unset)');
  return new HttpNodeApi(new URL(cluster.server), async () => {
    const o: RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    return o;
  });
}

export class HttpNodeApi implements NodeApi {
  readonly server: string;

  constructor(
    private readonly base: URL,
    private readonly options: Options,
  ) {
    this.server = base.origin + base.pathname.replace(/\/$/, '');
  }

  /**
   * One page, read as it streams in (gzip or not, as the server chose): each
   * Node is reduced the moment its text is complete, so neither the answer
   * nor its parsed tree is ever held whole.
   */
  async list(q: ListQuery, signal: AbortSignal): Promise<NodePage> {
    const params = new URLSearchParams({ limit: String(q.limit) });
    if (q.resourceVersion !== undefined) params.set('resourceVersion', q.resourceVersion);
    if (q.continue !== undefined) params.set('continue', q.continue);
    const res = await this.get(`/api/v1/nodes?${params}`, signal, LIST_TIMEOUT_MS, true);
    const body = decoded(res);
    if (res.statusCode !== 200) throw statusError(res, await readBody(body));
    const nodes: NodeInfo[] = [];
    const split = new ListItemSplitter((text) => {
      let item: unknown;
      try {
        item = JSON.parse(text);
      } catch {
        throw new ApiError(`node list item ${nodes.length} is not JSON: ${text.slice(0, 80)}`);
      }
      const n = fromV1Node(item);
      if (!n) throw new ApiError(`node list item ${nodes.length} is not a v1.Node with metadata.name: ${text.slice(0, 80)}`);
      nodes.push(n);
    }, MAX_BODY);
    body.setEncoding('utf8');
    try {
      for await (const chunk of body) split.push(String(chunk));
      const doc = split.end();
      if (doc.kind !== undefined && doc.kind !== 'NodeList' && doc.kind !== 'List') throw new ApiError(`not a v1.NodeList: kind ${JSON.stringify(doc.kind)}`);
      if (!Array.isArray(doc.items)) throw new ApiError('not a v1.NodeList: no items');
      return pageMeta(nodes, typeof doc.metadata === 'object' && doc.metadata !== null ? (doc.metadata as Record<string, unknown>) : {});
    } catch (e) {
      body.destroy();
      res.destroy();
      if (e instanceof ListStreamError) throw new ApiError(`node list: ${e.message}`);
      throw e;
    }
  }

  async watch(resourceVersion: string, signal: AbortSignal): Promise<AsyncIterable<unknown>> {
    const q = new URLSearchParams({ watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(WATCH_SECONDS) });
    const res = await this.get(`/api/v1/nodes?${q}`, signal, WATCH_SILENCE_MS, false);
    if (res.statusCode !== 200) throw statusError(res, await readBody(decoded(res)));
    return events(res, decoded(res));
  }

  /** One GET; resolves with the response once its headers are in. `idleMs` bounds silence, not the whole stream. */
  private async get(path: string, signal: AbortSignal, idleMs: number, gzip: boolean): Promise<IncomingMessage> {
    const opts = await this.options();
    const url = new URL(this.base.href);
    const [p, q] = path.split('?');
    url.pathname = url.pathname.replace(/\/$/, '') + p;
    url.search = q ? `?${q}` : '';
    const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return new Promise((resolve, reject) => {
      const silent = (): ApiError => new ApiError(`no answer from ${this.server} for ${idleMs / 1000} s`);
      // Until the answer's headers, our own timer as well: Bun's request
      // timeout (the agent runs on Bun) never fires while a TLS handshake
      // stalls, and a stopped API server then held the first LIST for ever.
      const headers = setTimeout(() => req.destroy(silent()), idleMs);
      const req = mod.request(url, { ...opts, method: 'GET', headers: { ...(opts.headers as OutgoingHttpHeaders | undefined), accept: 'application/json', ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } }, (res) => {
        clearTimeout(headers);
        resolve(res);
      });
      const abort = (): void => void req.destroy(new ApiError('aborted'));
      signal.addEventListener('abort', abort, { once: true });
      req.setTimeout(idleMs, () => req.destroy(silent()));
      req.on('close', () => {
        clearTimeout(headers);
        signal.removeEventListener('abort', abort);
      });
      req.on('error', (e) => {
        clearTimeout(headers);
        reject(e instanceof ApiError ? e : new ApiError(`${this.server}: ${e.message}`));
      });
      req.end();
    });
  }
}

/**
 * The answer's body, gunzipped when the server compressed it. kube-apiserver
 * compresses only some answers (1.20: above 128 KiB, with the
 * APIResponseCompression feature on), so both kinds come.
 */
function decoded(res: IncomingMessage): Readable {
  if (!/^\s*gzip\s*$/i.test(String(res.headers['content-encoding'] ?? ''))) return res;
  // Large output chunks: with the default 16 KiB, inflating a 136 MB list took three times as long under Bun.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  res.on('error', (e) => gunzip.destroy(e));
  gunzip.on('close', () => res.destroy());
  return res.pipe(gunzip);
}

async function readBody(res: Readable): Promise<string> {
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) {
    body += String(chunk);
    if (body.length > MAX_BODY) {
      res.destroy();
      throw new ApiError(`answer larger than ${MAX_BODY} bytes`);
    }
  }
  return body;
}

/** The Kubernetes Status in an error answer, as one line. */
function statusError(res: IncomingMessage, body: string): ApiError {
  let msg = body.trim().slice(0, 200);
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string') msg = s.message;
  } catch {
    // not a Status: the text as it came
  }
  return new ApiError(`HTTP ${res.statusCode}${msg ? `: ${msg}` : ''}`, res.statusCode);
}

/** Watch events: one JSON object per line. */
async function* events(res: IncomingMessage, body: Readable): AsyncIterable<unknown> {
  body.setEncoding('utf8');
  let buf = '';
  try {
    for await (const chunk of body) {
      buf += String(chunk);
      if (buf.length > MAX_BODY) throw new ApiError(`watch event larger than ${MAX_BODY} bytes`);
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield parseEvent(line);
      }
    }
    if (buf.trim()) yield parseEvent(buf.trim());
  } finally {
    if (body !== res) body.destroy();
    res.destroy();
  }
}

function parseEvent(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new ApiError(`watch event is not JSON: ${line.slice(0, 80)}`);
  }
}
