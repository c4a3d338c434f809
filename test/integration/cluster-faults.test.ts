// e2e: faults a node must survive, in a namespace cluster. The agent under
// test runs with --resync 3600, so only kernel events (ip monitor) can
// explain a repair; the deadlines are generous and nothing is timed
// (the elapsed times are printed for the record). Also: the agent's
// /healthz, /readyz and /metrics read with a real HTTP client, and kill -9
// in the middle of a large sync followed by a restart.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { ROOT } from '../helpers/plugin.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster } from '../../scripts/cluster.mjs';

const flatnet = join(ROOT, 'dist', 'bin', 'flatnet');
const httpGet = join(ROOT, 'test', 'helpers', 'http-get.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEADLINE = 10_000;

/** GET inside namespace `ns` with a real HTTP client. */
async function get(ns: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await execa('ip', ['netns', 'exec', ns, process.execPath, httpGet, `http://127.0.0.1:9742${path}`]);
  return JSON.parse(r.stdout);
}

/** Waits for `fn`, polling every 50 ms; returns the elapsed milliseconds. */
async function timeUntil(c: any, what: string, fn: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  await c.waitFor(what, fn, DEADLINE);
  return Math.round(performance.now() - t0);
}

describe.runIf(isRoot())('node faults (agent with --resync 3600)', () => {
  let c: any;
  let n1: any;
  const measured: Record<string, number> = {};
  const peerRoutes = async () => (await c.routes(n1)).map((r: any) => `${r.dst} via ${r.gateway}${r.nhid ? ' nhid' : ''}`).sort();
  const allPeers = ['10.244.2.0/24 via 10.200.0.12 nhid', '10.244.3.0/24 via 10.200.0.13 nhid'];
  const status = async () => JSON.parse((await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'status', '--json', '--status-file', n1.statusFile])).stdout);

  beforeAll(async () => {
    c = await createCluster({ nodes: 3 });
    n1 = c.nodes[0];
    c.writeNodes();
    await c.startAgent(n1, { resync: 3600, logLevel: 'info' });
    await c.waitFor('peer routes', async () => (await peerRoutes()).join() === allPeers.join());
  }, 60_000);
  afterAll(async () => {
    console.log(`agent repair times (ms, polled every 50-100 ms): ${JSON.stringify(measured)}`);
    await c?.destroy();
  }, 60_000);

  it('brings peer routes back after the node interface goes down and up (the kernel drops them with the link)', async () => {
    await execa('ip', ['-n', n1.ns, 'link', 'set', 'eth0', 'down']);
    await c.waitFor('the kernel to drop the routes', async () => (await peerRoutes()).length === 0);
    // While the link is down every peer fails, and says why.
    await c.waitFor('failures in the status', async () => (await status()).peers.every((p: any) => p.state.startsWith('failed: ')));
    await execa('ip', ['-n', n1.ns, 'link', 'set', 'eth0', 'up']);
    measured.linkUp = await timeUntil(c, 'routes after link up', async () => (await peerRoutes()).join() === allPeers.join());
    await execa('ip', ['-n', n1.ns, 'route', 'replace', 'default', 'via', '10.200.0.254']); // the test bed's own route, not the agent's
    await c.waitFor('installed in the status', async () => (await status()).peers.every((p: any) => p.state === 'installed'));
  });

  it('restores a peer route deleted by hand', async () => {
    await execa('ip', ['-n', n1.ns, 'route', 'del', '10.244.2.0/24']);
    measured.routeDeleted = await timeUntil(c, 'route restored', async () => (await peerRoutes()).join() === allPeers.join());
  });

  it('restores a nexthop deleted by hand (and the routes the kernel removed with it)', async () => {
    const nh = (await c.nexthops(n1)).find((h: any) => h.gateway === '10.200.0.13');
    await execa('ip', ['-n', n1.ns, 'nexthop', 'del', 'id', String(nh.id)]);
    measured.nexthopDeleted = await timeUntil(c, 'nexthop and route restored', async () => (await peerRoutes()).join() === allPeers.join());
  });

  it('routes through plain routes while the link has no carrier, and moves them onto nexthops when it comes back', async () => {
    await c.stopAgent(n1);
    // (`ip route flush` cannot flush nexthop routes in iproute2 6.1: flushing the nexthops removes them.)
    await execa('ip', ['-n', n1.ns, 'nexthop', 'flush']);
    expect(await peerRoutes()).toEqual([]);
    await execa('ip', ['-n', c.sw, 'link', 'set', 'n1', 'down']); // the switch port: eth0 loses carrier, stays up
    await c.startAgent(n1, { resync: 3600 });
    await c.waitFor('plain routes without carrier', async () => (await peerRoutes()).join() === '10.244.2.0/24 via 10.200.0.12,10.244.3.0/24 via 10.200.0.13', DEADLINE);
    await execa('ip', ['-n', c.sw, 'link', 'set', 'n1', 'up']);
    measured.carrierBack = await timeUntil(c, 'nexthop routes once the carrier is back', async () => (await peerRoutes()).join() === allPeers.join());
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect(await get(n1.ns, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(n1.ns, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    const m = await get(n1.ns, '/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    for (const line of ['flatnet_agent_node_source_state{state="watching"} 1', 'flatnet_agent_node_source_state{state="backoff"} 0', 'flatnet_agent_peer_routes{family="4"} 2', 'flatnet_agent_ready 1', 'flatnet_agent_skipped_peers 0', 'flatnet_agent_node_lists_total 1']) expect(m.body).toContain(line);
    expect(m.body).toMatch(/flatnet_agent_syncs_total\{reason="[a-z_]+",result="ok"\} [1-9]/);
    expect(m.body).toMatch(/flatnet_agent_last_successful_sync_timestamp_seconds \d/);
    expect(m.body).not.toMatch(/nodejs_version_info|process_heap_bytes/);
    expect(m.body).toMatch(/flatnet_agent_kernel_events_total\{kind="(link|route|nexthop|address)"\} [1-9]/);
    expect(m.body).toMatch(/flatnet_agent_sync_duration_seconds_count [1-9]/);
    expect(await get(n1.ns, '/nope')).toMatchObject({ status: 404 });
  });

  it('answers /readyz 503 with the reason while the node is not ready, /healthz 200', async () => {
    const n2 = c.nodes[1];
    await c.startAgent(n2, { nodeName: 'no-such-node' });
    await c.waitFor('the endpoint', async () => (await execa('ip', ['netns', 'exec', n2.ns, process.execPath, httpGet, 'http://127.0.0.1:9742/readyz'], { reject: false })).exitCode === 0);
    await c.waitFor('a sync', async () => (await get(n2.ns, '/readyz')).body !== 'not synced yet\n');
    expect(await get(n2.ns, '/readyz')).toEqual({ status: 503, type: 'text/plain; charset=utf-8', body: 'node no-such-node is not in the node list (set --node-name or NODE_NAME)\n' });
    expect(await get(n2.ns, '/healthz')).toMatchObject({ status: 200 });
    await c.stopAgent(n2);
  });
});

describe.runIf(isRoot())('kill -9 in the middle of a sync, then restart', () => {
  const PEERS = 2000;
  const TRIALS = 9;
  let c: any;
  let n1: any;
  const peers = Array.from({ length: PEERS }, (_, i) => ({ name: `peer${i}`, podCIDR: `10.244.${128 + Math.floor(i / 16)}.${(i % 16) * 16}/28`, ip: `10.201.${Math.floor(i / 250)}.${(i % 250) + 2}` }));
  const FOREIGN_NH = 201 * 2 ** 24; // our id range, someone else's nexthop
  const foreign = async () => ({
    routes: (await c.allRoutes(n1)).filter((r: any) => r.protocol !== '201').map((r: any) => JSON.stringify(r)).sort(),
    nexthops: (await c.nexthops(n1)).filter((h: any) => h.protocol !== '201').map((h: any) => JSON.stringify(h)).sort(),
  });

  beforeAll(async () => {
    c = await createCluster({ nodes: 1 });
    n1 = c.nodes[0];
    // A second underlay subnet on the node, so 2,000 peers are directly connected.
    await execa('ip', ['-n', n1.ns, 'addr', 'add', '10.201.0.1/16', 'dev', 'eth0']);
    await execa('ip', ['-n', n1.ns, 'route', 'add', '10.244.250.0/24', 'via', '10.200.0.254', 'proto', 'static']);
    await execa('ip', ['-n', n1.ns, 'nexthop', 'add', 'id', '77', 'via', '10.200.0.254', 'dev', 'eth0']);
    await execa('ip', ['-n', n1.ns, 'nexthop', 'add', 'id', String(FOREIGN_NH), 'via', '10.201.0.1', 'dev', 'eth0', 'proto', 'static']);
    c.writeNodes(undefined, peers.map((p) => c.nodeObject({ name: p.name, podCIDRs: [p.podCIDR], ips: [p.ip] })));
  }, 60_000);
  afterAll(async () => {
    await c?.destroy();
  }, 60_000);

  it(`converges after ${TRIALS} kills at random points of a ${PEERS}-peer sync, touching no foreign route or nexthop`, async () => {
    const before = await foreign();
    const seen: string[] = [];
    const ourNexthops = async () => (await c.nexthops(n1)).filter((h: any) => h.protocol === '201');
    for (let i = 0; i < TRIALS; i++) {
      // A complete table gives the next agent nothing to do: take ours away (their routes go with them).
      if ((await c.routes(n1)).length === PEERS) await execa('ip', ['-n', n1.ns, 'nexthop', 'flush', 'protocol', '201']);
      const state = async () => `${(await c.routes(n1)).length} routes, ${(await ourNexthops()).length} nexthops`;
      await c.startAgent(n1, { resync: 3600 });
      if (i % 3 === 2) {
        await sleep(Math.floor(Math.random() * 1500)); // anywhere: start-up, planning, the batch
        await c.killAgent(n1);
      } else {
        // Aim inside the batch: kill after a random number of the kernel's own change events.
        const after = Math.floor(Math.random() * PEERS * 2);
        await new Promise<void>((resolve) => {
          const mon = spawn('ip', ['-n', n1.ns, 'monitor', 'nexthop', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
          let events = 0;
          let fired = false;
          const done = () => {
            if (fired) return;
            fired = true;
            clearTimeout(quiet);
            mon.kill();
            // The agent, and (as a crash of the node would) the `ip -batch` it feeds: its input is
            // all in the pipe already, so without this the batch would always finish.
            const batch = execa('ip', ['netns', 'pids', n1.ns]);
            void c.killAgent(n1).then(async () => {
              for (const pid of (await batch).stdout.split('\n').filter(Boolean)) {
                try {
                  if (Number(pid) !== mon.pid) process.kill(Number(pid), 'SIGKILL');
                } catch {
                  // already gone (the agent's monitor dies with it)
                }
              }
              resolve();
            });
          };
          // A sync with less to do than `after` events: kill once it has gone quiet.
          let quiet = setTimeout(done, 15_000);
          mon.stdout.on('data', (d: Buffer) => {
            events += d.toString().split('\n').length - 1;
            clearTimeout(quiet);
            quiet = setTimeout(done, 1500);
            if (events > after) done();
          });
          c.agents.get(n1.name)?.once('exit', done);
        });
      }
      // Nothing of the agent may outlive it: its `ip monitor` dies with it (pdeathsig).
      await c.waitFor('no process left in the node namespace', async () => (await execa('ip', ['netns', 'pids', n1.ns])).stdout.trim() === '', DEADLINE);
      seen.push(await state());
    }
    console.log(`state after each kill -9 (of ${PEERS} peers): ${seen.join('; ')}`);
    expect(await foreign()).toEqual(before);
    await c.startAgent(n1, { resync: 3600 });
    await c.waitFor('all peers routed', async () => (await c.routes(n1)).length === PEERS, 30_000);
    const routes = await c.routes(n1);
    const want = new Map(peers.map((p) => [p.podCIDR.replace(/\/28$/, '/28'), p.ip]));
    expect(routes.filter((r: any) => want.get(r.dst) !== r.gateway || !r.nhid)).toEqual([]);
    const ours = (await c.nexthops(n1)).filter((h: any) => h.protocol === '201');
    expect(ours).toHaveLength(PEERS); // one per peer IP, none left over
    expect(new Set(routes.map((r: any) => r.nhid)).size).toBe(PEERS);
    expect(await foreign()).toEqual(before);
  }, 240_000);
});
