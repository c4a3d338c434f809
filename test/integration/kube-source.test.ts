// The Kubernetes node source against a small local API server that serves
// real v1.NodeList and watch-event JSON on the real paths (no API server can
// run on these machines). Route logic is shared with the file source and is
// covered by the cluster e2e tests.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFromKube } from '../../src/agent/kube-source.ts';
import type { NodeInfo } from '../../src/agent/nodes.ts';
import { tempDir } from '../helpers/plugin.ts';

const v1Node = (name: string, cidr: string, ip: string, rv: number) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, resourceVersion: String(rv), uid: `uid-${name}` },
  spec: { podCIDR: cidr, podCIDRs: [cidr] },
  status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
});

describe('Kubernetes node source (list+watch)', () => {
  let server: Server;
  let dir: ReturnType<typeof tempDir>;
  let rv = 10;
  const nodes = new Map<string, any>();
  const watchers = new Set<ServerResponse>();
  const paths: string[] = [];

  const emit = (type: string, obj: any) => {
    for (const w of watchers) w.write(`${JSON.stringify({ type, object: obj })}\n`);
  };

  beforeAll(async () => {
    dir = tempDir('fnt-kube');
    for (const [n, c, ip] of [['node1', '10.244.1.0/24', '10.0.0.1'], ['node2', '10.244.2.0/24', '10.0.0.2']] as const) nodes.set(n, v1Node(n, c, ip, ++rv));
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      paths.push(url.pathname + (url.searchParams.get('watch') ? '?watch' : ''));
      if (url.pathname !== '/api/v1/nodes') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404 }));
        return;
      }
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        watchers.add(res);
        req.on('close', () => watchers.delete(res));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: String(rv) }, items: [...nodes.values()] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const w of watchers) w.end();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    dir.remove();
  });

  it('lists, then follows ADDED, MODIFIED and DELETED events', async () => {
    const port = (server.address() as { port: number }).port;
    const kubeconfig = join(dir.path, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 't', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'test' } }],
        contexts: [{ name: 'c', context: { cluster: 't', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const seen: NodeInfo[][] = [];
    const ac = new AbortController();
    const running = runFromKube({ sync: async (n) => void seen.push(n) }, { kubeconfig, resyncSeconds: 3600, debounceMs: 20 }, ac.signal);
    const waitFor = async (pred: (n: NodeInfo[]) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const last = seen.at(-1);
        if (last && pred(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`never synced the expected nodes; last: ${JSON.stringify(seen.at(-1))}`);
    };
    try {
      const first = await waitFor((n) => n.length === 2);
      expect(seen.every((n) => n.length > 0)).toBe(true); // never an empty sync before the list
      expect(first.map((n) => n.name).sort()).toEqual(['node1', 'node2']);
      expect(first.find((n) => n.name === 'node1')).toEqual({ name: 'node1', podCIDRs: ['10.244.1.0/24'], internalIPs: ['10.0.0.1'] });
      await waitFor(() => watchers.size > 0);

      const n3 = v1Node('node3', '10.244.3.0/24', '10.0.0.3', ++rv);
      emit('ADDED', n3);
      await waitFor((n) => n.some((x) => x.name === 'node3'));

      const moved = v1Node('node2', '10.244.2.0/24', '10.0.0.22', ++rv);
      emit('MODIFIED', moved);
      await waitFor((n) => n.find((x) => x.name === 'node2')?.internalIPs[0] === '10.0.0.22');

      emit('DELETED', { ...nodes.get('node1'), metadata: { ...nodes.get('node1').metadata, resourceVersion: String(++rv) } });
      const last = await waitFor((n) => !n.some((x) => x.name === 'node1'));
      expect(last.map((n) => n.name).sort()).toEqual(['node2', 'node3']);
      expect(paths).toContain('/api/v1/nodes');
      expect(paths).toContain('/api/v1/nodes?watch');
    } finally {
      ac.abort();
      await running;
    }
  });
});
