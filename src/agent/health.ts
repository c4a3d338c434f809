// The agent's HTTP endpoints: /healthz (the process answers and its loop is
// not wedged: a liveness probe), /readyz (this node is synced and ready for
// pods), /metrics (Prometheus text). Read-only, GET only.
import { createServer, type Server } from 'node:http';
import type { LoopHealth } from './loop.ts';
import type { AgentMetrics } from './metrics.ts';

export interface ListenAddr {
  host: string;
  port: number;
}

/** "127.0.0.1:9742", "[::1]:9742", ":9742" (all addresses); undefined when it is none of these. */
export function parseListenAddr(s: string): ListenAddr | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '::'), port };
}

export async function serveHealth(addr: ListenAddr, health: () => LoopHealth, metrics: AgentMetrics): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (code: number, body: string): void => void res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(`${body}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'GET only');
    if (path === '/healthz') {
      const h = health();
      return text(h.alive ? 200 : 503, h.alive ? 'ok' : h.reason);
    }
    if (path === '/readyz') {
      const h = health();
      // Conflicts between other Nodes are not this node's to fix: ready, but said.
      return text(h.ready ? 200 : 503, h.ready ? (h.conflicts ? `ok (${h.conflicts})` : 'ok') : h.reason);
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => void res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (e: Error) => text(500, e.message),
      );
      return;
    }
    text(404, 'not found: /healthz, /readyz, /metrics');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
