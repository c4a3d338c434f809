// e2e: 3 namespace-nodes x 3 pods, agents fed by one nodes file. Pods reach
// each other by their own IPs (no NAT), egress is masqueraded to the node IP,
// and the agents' routes follow the node list.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { ping, tcpSource } from '../helpers/pod-network.ts';
import { libcniDriver } from '../helpers/libcni.ts';
import { ROOT } from '../helpers/plugin.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster, HOST_IP, INTERNET_IP } from '../../scripts/cluster.mjs';

describe.runIf(isRoot())('cross-node pod network (3 nodes x 3 pods)', () => {
  let c: any;
  beforeAll(async () => {
    c = await createCluster({ nodes: 3, libcniDriver: libcniDriver() });
    c.writeNodes();
    for (const n of c.nodes) await c.startAgent(n);
    for (const n of c.nodes) for (let i = 1; i <= 3; i++) await c.addPod(n, `p${n.k}${i}`);
  }, 120_000);
  afterAll(async () => {
    await c?.destroy();
  }, 60_000);

  it('every pod pings every other pod', async () => {
    const failures: string[] = [];
    await Promise.all(
      c.pods.map(async (a: any) => {
        for (const b of c.pods) {
          if (a === b) continue;
          if ((await ping(a, b.ip)).exitCode !== 0) failures.push(`${a.name} -> ${b.name} (${b.ip})`);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(c.pods).toHaveLength(9);
  });

  it('a TCP connection from node1 to node3 arrives with the client pod\'s own IP (no NAT)', async () => {
    const from = c.pods.find((p: any) => p.node.k === 1);
    const to = c.pods.find((p: any) => p.node.k === 3);
    expect(await tcpSource(from, to.ns, to.ip, 8081)).toBe(from.ip);
  });

  // As kindnet and flannel: a Node's machine need not route pod subnets back
  // (its agent down, or never run there). Its own node's address is local:
  // delivered without passing POSTROUTING, so never masqueraded.
  it("a pod reaching another node's IP is masqueraded to its own node's IP; its own node's IP sees the pod's address", async () => {
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.nodes[0].ns, c.nodes[0].ip, 8082)).toBe(c.nodes[1].ip);
    expect(await tcpSource(from, c.nodes[1].ns, c.nodes[1].ip, 8084)).toBe(from.ip);
  });

  // Found on a real cluster: an API server, load balancer, NFS or etcd host on
  // the node network has no route back to pod subnets.
  it('a host on the node network that is no flatnet node is reached from a pod and sees the node IP', async () => {
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.host, HOST_IP, 8085)).toBe(c.nodes[1].ip);
  });

  it('traffic leaving the cluster is masqueraded to the node IP', async () => {
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.inet, INTERNET_IP, 8083)).toBe(c.nodes[1].ip);
  });

  it('flatnet status shows the podCIDR, peers with their routes, and the allocations', async () => {
    const n = c.nodes[0];
    const r = await execa('ip', ['netns', 'exec', n.ns, join(ROOT, 'dist', 'bin', 'flatnet'), 'status', '--json', '--status-file', n.statusFile]);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ node: 'node1', podCIDRs: ['10.244.1.0/24'], ready: true });
    expect(doc.peers.map((p: any) => `${p.node} ${p.podCIDR} ${p.via}`).sort()).toEqual(['node2 10.244.2.0/24 10.200.0.12', 'node3 10.244.3.0/24 10.200.0.13']);
    expect(doc.allocations.map((a: any) => a.ip).sort()).toEqual(c.pods.filter((p: any) => p.node === n).map((p: any) => p.ip).sort());
    const table = await execa('ip', ['netns', 'exec', n.ns, join(ROOT, 'dist', 'bin', 'flatnet'), 'status', '--status-file', n.statusFile]);
    expect(table.stdout).toContain('node2                10.244.2.0/24         10.200.0.12        installed');
  });

  it('peer routes point at one nexthop object of ours per peer node', async () => {
    const n = c.nodes[0]!;
    const nhs = JSON.parse((await execa('ip', ['-n', n.ns, '-j', 'nexthop', 'show', 'proto', '201'])).stdout) as Array<{ id: number; gateway: string }>;
    expect(nhs.map((h) => h.gateway).sort()).toEqual(['10.200.0.12', '10.200.0.13']);
    const routes = await c.routes(n);
    for (const h of nhs) expect(routes.filter((r: any) => r.nhid === h.id).map((r: any) => r.gateway)).toEqual([h.gateway]);
  });

  it('removing a node from the nodes file withdraws its routes everywhere, and adding it back restores them', async () => {
    c.writeNodes(['node1', 'node2']);
    for (const n of c.nodes.slice(0, 2)) {
      await c.waitFor(`${n.name} to drop node3's route`, async () => !(await c.routes(n)).some((r: any) => r.dst === '10.244.3.0/24'));
    }
    // node3's nexthop goes with its route.
    const left = JSON.parse((await execa('ip', ['-n', c.nodes[0]!.ns, '-j', 'nexthop', 'show', 'proto', '201'])).stdout) as Array<{ gateway: string }>;
    expect(left.map((h) => h.gateway)).toEqual(['10.200.0.12']);
    c.writeNodes();
    for (const n of c.nodes.slice(0, 2)) {
      await c.waitFor(`${n.name} to restore node3's route`, async () => (await c.routes(n)).some((r: any) => r.dst === '10.244.3.0/24'));
    }
  });

  it('a stale route of ours from a previous run is removed on start; other routes are left alone', async () => {
    const n = c.nodes[1];
    await c.stopAgent(n);
    await execa('ip', ['-n', n.ns, 'route', 'add', '10.244.99.0/24', 'via', '10.200.0.13', 'proto', '201']);
    await execa('ip', ['-n', n.ns, 'route', 'add', '10.244.98.0/24', 'via', '10.200.0.13']);
    await c.startAgent(n);
    await c.waitFor('stale route removal', async () => !(await c.routes(n)).some((r: any) => r.dst === '10.244.99.0/24'));
    const all = JSON.parse((await execa('ip', ['-n', n.ns, '-j', 'route', 'show', '10.244.98.0/24'])).stdout);
    expect(all).toHaveLength(1);
  });

  it('an agent restarted mid-way converges again (a route removed while it was down comes back)', async () => {
    const n = c.nodes[0];
    await c.stopAgent(n);
    await execa('ip', ['-n', n.ns, 'route', 'del', '10.244.2.0/24']);
    await c.startAgent(n);
    await c.waitFor('route restored', async () => (await c.routes(n)).some((r: any) => r.dst === '10.244.2.0/24' && r.gateway === '10.200.0.12'));
    const a = c.pods.find((p: any) => p.node.k === 1);
    const b = c.pods.find((p: any) => p.node.k === 2);
    expect((await ping(a, b.ip)).exitCode).toBe(0);
  });

  it("with --no-masquerade-node-network a pod reaching another node's IP keeps its own source address", async () => {
    const n = c.nodes[1];
    const nat = async () => (await execa('ip', ['netns', 'exec', n.ns, 'iptables-save', '-t', 'nat'])).stdout;
    const exempt = '-A FLATNET-MASQ -d 10.200.0.0/24 -j RETURN';
    expect(await nat()).not.toContain(exempt);
    await c.stopAgent(n);
    await c.startAgent(n, { args: ['--no-masquerade-node-network'] });
    await c.waitFor('the node network exempted', async () => (await nat()).includes(exempt));
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.nodes[0].ns, c.nodes[0].ip, 8086)).toBe(from.ip);
  });
});
