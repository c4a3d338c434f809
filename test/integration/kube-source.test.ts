// The agent binary with nodes from the Kubernetes API, against a local
// stand-in for the API (test/helpers/kube-api-stub.mjs, node:http) run in the
// agent's own node namespace. What is checked is the routing table: an API
// that fails at start changes nothing (routes of ours from before the restart
// stay), a failing watch changes nothing, a 410 makes the agent list again,
// and after an outage the changes made meanwhile are applied.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiStub } from '../helpers/in-cluster.ts';
import { isRoot } from '../helpers/netns.ts';
import { ROOT } from '../helpers/plugin.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster } from '../../scripts/cluster.mjs';

describe.runIf(isRoot())('agent with nodes from the Kubernetes API (local stand-in)', () => {
  let c: any;
  let stub: KubeApiStub;
  let n1: any;
  const routesOf = async () => (await c.routes(n1)).map((r: any) => `${r.dst} via ${r.gateway}`).sort();
  const node = (name: string, k: number, ip = `10.200.0.${10 + k}`) => c.nodeObject({ name, podCIDRs: [`10.244.${k}.0/24`], ips: [ip] });

  beforeAll(async () => {
    c = await createCluster({ nodes: 2 });
    n1 = c.nodes[0];
    stub = await KubeApiStub.start(n1.ns);
    const kubeconfig = join(c.work, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 't', cluster: { server: `http://127.0.0.1:${stub.port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'test' } }],
        contexts: [{ name: 'c', context: { cluster: 't', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    n1.kubeconfig = kubeconfig;
  }, 60_000);
  afterAll(async () => {
    await stub?.stop();
    await c?.destroy();
  }, 60_000);

  it('changes nothing while the API fails at start: no sync, routes of the previous run kept', async () => {
    // A route of ours from before the restart.
    await execa('ip', ['-n', n1.ns, 'route', 'add', '10.244.2.0/24', 'via', '10.200.0.12', 'proto', '201']);
    await stub.send({ list: 'fail' });
    await stub.send({ set: [node('node1', 1), node('node2', 2)] });
    await c.startAgent(n1, { kubeconfig: n1.kubeconfig, resync: 1, logLevel: 'info' });
    await stub.until('three failed lists', () => stub.count('list', (r) => r.status === 500) >= 3);
    expect(await routesOf()).toEqual(['10.244.2.0/24 via 10.200.0.12']);
    expect(existsSync(n1.statusFile)).toBe(false); // not one sync
    expect(existsSync(join(n1.confDir, '10-flatnet.conflist'))).toBe(false);
    expect(n1.agentLog).toContain('node list failed (routes stay as they are; retrying): HTTP 500: etcdserver: request timed out');
  });

  it('syncs once the list works, then follows the watch', async () => {
    await stub.send({ list: 'ok' });
    await c.waitFor('the first sync', () => existsSync(n1.statusFile), 20_000);
    await c.waitFor('node2 routed through a nexthop', async () => (await c.routes(n1)).some((r: any) => r.dst === '10.244.2.0/24' && r.nhid));
    await stub.until('a watch', () => stub.count('watch') > 0);
    await stub.send({ set: [node('node1', 1), node('node2', 2), node('node3', 3)] });
    await c.waitFor('node3 from a watch event', async () => (await routesOf()).includes('10.244.3.0/24 via 10.200.0.13'));
  });

  it('keeps every route while watches fail, and applies what changed once they work again', async () => {
    const before = await routesOf();
    const failedBefore = stub.count('watch', (r) => r.status === 500);
    await stub.send({ watch: 'fail' });
    await stub.send({ closeWatches: true });
    await stub.until('two failed watches', () => stub.count('watch', (r) => r.status === 500) >= failedBefore + 2);
    expect(await routesOf()).toEqual(before);
    // The change happens while the agent cannot watch; the next watch (from
    // the old version) replays it.
    await stub.send({ set: [node('node1', 1), node('node2', 2), node('node3', 3, '10.200.0.33')] });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await routesOf()).toEqual(before);
    await stub.send({ watch: 'ok' });
    await c.waitFor('node3 moved', async () => (await routesOf()).includes('10.244.3.0/24 via 10.200.0.33'), 40_000);
  });

  it('lists again after 410 Gone, and the new list replaces the node set', async () => {
    const lists = stub.count('list', (r) => r.status === 200);
    await stub.send({ watch: 'gone' });
    await stub.send({ set: [node('node1', 1), node('node2', 2), node('node4', 4)] }); // node3 gone, node4 new: not on any watch
    await stub.send({ closeWatches: true });
    await stub.until('a relist', () => stub.count('list', (r) => r.status === 200) > lists);
    await stub.send({ watch: 'ok' });
    await c.waitFor('node4 routed, node3 withdrawn', async () => {
      const r = await routesOf();
      return r.includes('10.244.4.0/24 via 10.200.0.14') && !r.some((x: string) => x.startsWith('10.244.3.0/24'));
    });
  });

  it('rides out a full API outage without a route change, and applies the changes after it', async () => {
    const before = await routesOf();
    const lists = stub.count('list');
    await stub.send({ list: 'fail' });
    await stub.send({ watch: 'gone' }); // the outage also expires the agent's version
    await stub.send({ closeWatches: true });
    await stub.until('failed lists during the outage', () => stub.count('list', (r) => r.status === 500) >= 2 && stub.count('list') > lists);
    await new Promise((r) => setTimeout(r, 1500)); // resyncs (every 1 s) run with the last good list meanwhile
    expect(await routesOf()).toEqual(before);
    await stub.send({ set: [node('node1', 1), node('node4', 4)] });
    await stub.send({ watch: 'ok' });
    await stub.send({ list: 'ok' });
    await c.waitFor('node2 withdrawn after the outage', async () => (await routesOf()).join() === '10.244.4.0/24 via 10.200.0.14', 40_000);
    const status = JSON.parse((await execa('ip', ['netns', 'exec', n1.ns, join(ROOT, 'dist', 'bin', 'flatnet'), 'status', '--json', '--status-file', n1.statusFile])).stdout);
    expect(status).toMatchObject({ node: 'node1', ready: true });
    expect(status.source).toMatch(/^Kubernetes API http:\/\/127\.0\.0\.1:\d+: following changes$/);
  });

  // A 10,000-Node cluster's list is 136 MB: it is asked for in pages, gzip
  // accepted; a page whose continue token expired starts the list over.
  it('lists in pages of 500 (limit/continue), gzipped, starting over fresh after an expired continue token', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: `x${i}` }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: `10.201.${i >> 8}.${i & 255}` }] } }));
    const lists = stub.reports.length;
    await stub.send({ gzipMin: 0 });
    await stub.send({ expireNextContinue: true });
    await stub.send({ set: [node('node1', 1), node('node2', 2), ...many] });
    await stub.send({ watch: 'gone' });
    await stub.send({ closeWatches: true });
    await stub.until('a complete list after the expired token', () => stub.reports.slice(lists).some((r) => r.req === 'list' && r.status === 410) && stub.reports.slice(lists).filter((r) => r.req === 'list' && r.status === 200 && r.continue).length >= 2);
    await stub.send({ watch: 'ok' });
    const asked = stub.reports.slice(lists).filter((r) => r.req === 'list');
    const seen = asked.map((r) => `${r.rv ?? 'newest'} limit ${r.limit} ${r.continue ? 'continue' : 'first page'}: ${r.status}${r.status === 200 ? ` ${r.items} items${r.gzip ? ' gzip' : ''}` : ''}`);
    // The relist after a 410 asks for the newest state (no resourceVersion), 500 at a time.
    expect(seen).toEqual([
      'newest limit 500 first page: 200 500 items gzip',
      'newest limit 500 continue: 410',
      'newest limit 500 first page: 200 500 items gzip',
      'newest limit 500 continue: 200 500 items gzip',
      'newest limit 500 continue: 200 202 items gzip',
    ]);
    await c.waitFor('node2 routed again and every x node seen', async () => {
      const st = JSON.parse(readFileSync(n1.statusFile, 'utf8'));
      return (await routesOf()).includes('10.244.2.0/24 via 10.200.0.12') && st.skipped.filter((s: any) => s.node.startsWith('x')).length === 1200;
    });
    await stub.send({ gzipMin: 128 * 1024 });
  });

  // Found from outside: against an API server that accepts the connection and
  // never answers (a stopped process), the first LIST over https waited for
  // ever in Bun (its request timeout does not fire during a TLS handshake).
  it('gives up a LIST the API never answers (and retries it, as the unit tests show)', async () => {
    await c.stopAgent(n1);
    const silent = spawn('ip', ['netns', 'exec', n1.ns, process.execPath, '-e', "require('net').createServer(() => {}).listen(6444, '127.0.0.1')"], { stdio: 'ignore' });
    const kubeconfig = join(c.work, 'kubeconfig-silent');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 't', cluster: { server: 'https://127.0.0.1:6444', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'test' } }],
        contexts: [{ name: 'c', context: { cluster: 't', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    process.env.FLATNET_API_TIMEOUT_MS = '1500';
    try {
      await c.startAgent(n1, { kubeconfig, logLevel: 'info' });
      await c.waitFor('the LIST to time out', () => /node list failed .*no answer from https:\/\/127\.0\.0\.1:6444 for 1\.5 s/.test(n1.agentLog), 20_000);
    } finally {
      delete process.env.FLATNET_API_TIMEOUT_MS;
      await c.stopAgent(n1);
      silent.kill();
    }
  }, 40_000);
});
