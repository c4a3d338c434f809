// e2e: hostile and broken Node objects in the node list of a namespace
// cluster. Each of these once took over a route or withdrew every route; now
// each is skipped with its reason in `flatnet status`, the good peers stay
// routed, and routes flatnet did not make are never touched.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { ROOT } from '../helpers/plugin.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster } from '../../scripts/cluster.mjs';

const flatnet = join(ROOT, 'dist', 'bin', 'flatnet');

describe.runIf(isRoot())('hostile node lists', () => {
  let c: any;
  let n1: any;
  const status = async () => JSON.parse((await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'status', '--json', '--status-file', n1.statusFile])).stdout);
  const routes = async () => (await c.routes(n1)).map((r: any) => `${r.dst} via ${r.gateway}`).sort();
  const mainTable = async () => (await c.allRoutes(n1)).filter((r: any) => r.protocol !== '201' && r.protocol !== 201).map((r: any) => JSON.stringify(r));
  const evil = (name: string, podCIDRs: string[], ips: string[]) => c.nodeObject({ name, podCIDRs, ips });
  /** Writes the list and waits for a sync that saw it (the status names every node of `names`). */
  async function sync(extra: object[], names: string[]) {
    c.writeNodes(undefined, extra);
    await c.waitFor(`a sync that saw ${names.join(', ')}`, async () => {
      try {
        const s = await status();
        return names.every((n) => s.skipped.some((x: any) => x.node === n) || s.peers.some((x: any) => x.node === n));
      } catch {
        return false;
      }
    });
    return status();
  }

  beforeAll(async () => {
    c = await createCluster({ nodes: 2 });
    n1 = c.nodes[0];
    c.writeNodes();
    await c.startAgent(n1, { resync: 1 });
    await c.waitFor('node2 routed', async () => (await routes()).includes('10.244.2.0/24 via 10.200.0.12'));
  }, 60_000);
  afterAll(async () => {
    await c?.destroy();
  }, 60_000);

  it('a Node with podCIDR 0.0.0.0/0 (or ::/0) leaves the default route alone and is shown as skipped', async () => {
    const defaultBefore = (await c.allRoutes(n1)).filter((r: any) => r.dst === 'default');
    expect(defaultBefore).toHaveLength(1);
    const s = await sync([evil('evil4', ['0.0.0.0/0'], ['10.200.0.66']), evil('evil6', ['::/0'], ['fd00::66'])], ['evil4', 'evil6']);
    expect(s.skipped).toContainEqual({ node: 'evil4', reason: 'podCIDR 0.0.0.0/0 is a default route' });
    expect(s.skipped).toContainEqual({ node: 'evil6', reason: 'podCIDR ::/0 is a default route' });
    // A few resyncs later: still the same default route, node2 still routed.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await c.allRoutes(n1)).filter((r: any) => r.dst === 'default')).toEqual(defaultBefore);
    expect(await routes()).toEqual(['10.244.2.0/24 via 10.200.0.12']);
    const table = await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'status', '--status-file', n1.statusFile]);
    expect(table.stdout).toMatch(/evil4 +- +- +skipped: podCIDR 0\.0\.0\.0\/0 is a default route/);
  });

  it("never routes this node's podCIDR, the node network, a /32 in it, or ranges outside the cluster CIDR", async () => {
    const s = await sync(
      [evil('own', ['10.244.1.0/24'], ['10.200.0.61']), evil('net', ['10.200.0.0/24'], ['10.200.0.62']), evil('host', ['10.200.0.50/32'], ['10.200.0.63']), evil('outside', ['192.168.5.0/24'], ['10.200.0.64']), evil('wide', ['10.244.0.0/16'], ['10.200.0.65'])],
      ['own', 'net', 'host', 'outside', 'wide'],
    );
    expect(s.skipped.filter((x: any) => ['own', 'net', 'host', 'outside', 'wide'].includes(x.node))).toEqual([
      { node: 'own', reason: "podCIDR 10.244.1.0/24 overlaps this node's podCIDR 10.244.1.0/24" },
      { node: 'net', reason: 'podCIDR 10.200.0.0/24 is outside the cluster CIDR (10.244.0.0/16)' },
      { node: 'host', reason: 'podCIDR 10.200.0.50/32 is outside the cluster CIDR (10.244.0.0/16)' },
      { node: 'outside', reason: 'podCIDR 192.168.5.0/24 is outside the cluster CIDR (10.244.0.0/16)' },
      { node: 'wide', reason: "podCIDR 10.244.0.0/16 overlaps this node's podCIDR 10.244.1.0/24" },
    ]);
    expect(await routes()).toEqual(['10.244.2.0/24 via 10.200.0.12']);
  });

  it('routes a podCIDR two nodes claim to neither, and never via this node itself', async () => {
    const s = await sync([evil('dup-a', ['10.244.7.0/24'], ['10.200.0.71']), evil('dup-b', ['10.244.7.0/24'], ['10.200.0.72']), evil('twin', ['10.244.8.0/24'], ['10.200.0.11'])], ['dup-a', 'dup-b', 'twin']);
    expect(s.skipped).toContainEqual({ node: 'dup-a', reason: 'podCIDR 10.244.7.0/24 is also claimed by dup-b (10.244.7.0/24): routed to no claimant' });
    expect(s.skipped).toContainEqual({ node: 'dup-b', reason: 'podCIDR 10.244.7.0/24 is also claimed by dup-a (10.244.7.0/24): routed to no claimant' });
    expect(s.skipped).toContainEqual({ node: 'twin', reason: "next hop 10.200.0.11 is this node's own address" });
    expect(await routes()).toEqual(['10.244.2.0/24 via 10.200.0.12']);
  });

  it('one peer with a zoned InternalIP does not keep the others from being routed', async () => {
    const s = await sync([evil('zoned', ['10.244.9.0/24'], ['fd00::11%eth0']), evil('node5', ['10.244.5.0/24'], ['10.200.0.15'])], ['zoned', 'node5']);
    expect(s.skipped).toContainEqual({ node: 'zoned', reason: 'no IPv4 InternalIP for podCIDR 10.244.9.0/24 (not an IP address: "fd00::11%eth0")' });
    expect(await routes()).toEqual(['10.244.2.0/24 via 10.200.0.12', '10.244.5.0/24 via 10.200.0.15']);
  });

  it('never replaces a route it did not make: a peer whose podCIDR already has one is skipped', async () => {
    await execa('ip', ['-n', n1.ns, 'route', 'add', '10.244.6.0/24', 'via', '10.200.0.99', 'proto', 'static']);
    const before = await mainTable();
    const s = await sync([evil('node6', ['10.244.6.0/24'], ['10.200.0.16'])], ['node6']);
    expect(s.skipped).toContainEqual({ node: 'node6', reason: 'the main table already has a route to 10.244.6.0/24 that flatnet did not make (proto 4 via 10.200.0.99 dev eth0); flatnet does not replace it' });
    await new Promise((r) => setTimeout(r, 2500));
    expect(await mainTable()).toEqual(before);
    await execa('ip', ['-n', n1.ns, 'route', 'del', '10.244.6.0/24', 'via', '10.200.0.99']);
  });

  it('a nodes file that is not a NodeList ({}, null, {"items":"x"}) keeps the routes', async () => {
    c.writeNodes();
    const onlyNode2 = async () => {
      const s = await status();
      return s.skipped.length === 0 && s.peers.map((p: any) => p.node).join() === 'node2' && (await routes()).join() === '10.244.2.0/24 via 10.200.0.12';
    };
    await c.waitFor('a sync of only node1 and node2', onlyNode2);
    // (More shapes in test/unit/agent.test.ts; these are the ones that used to withdraw every route.)
    for (const bad of ['{}', 'null', '{"items":"x"}']) {
      c.writeNodesFile(bad);
      await c.waitFor(`the agent to refuse ${bad}`, async () => (await status()).source?.includes('last error'));
      await new Promise((r) => setTimeout(r, 1200)); // a resync with the last good list
      expect(await routes(), bad).toEqual(['10.244.2.0/24 via 10.200.0.12']);
      c.writeNodes();
      await c.waitFor('the good list back', async () => !(await status()).source?.includes('last error'));
    }
    expect(n1.agentLog).toContain('cannot use the nodes file (routes stay as they are until it is a node list again): not a v1.NodeList');
  });

  it("says so when this node's own name is not in the list", async () => {
    c.writeNodes(['node2']);
    await c.waitFor('the problem in the status', async () => (await status()).problem === 'node node1 is not in the node list (set --node-name or NODE_NAME)');
    const table = await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'status', '--status-file', n1.statusFile]);
    expect(table.stdout).toContain('problem   node node1 is not in the node list (set --node-name or NODE_NAME)');
    expect(await routes()).toEqual(['10.244.2.0/24 via 10.200.0.12']);
    c.writeNodes();
    await c.waitFor('ready again', async () => (await status()).ready === true);
  });

  // Found from outside: two agents in one namespace (health off, so no port clash)
  // each applied its own node list, and a podCIDR pointed at the wrong node half the time.
  it('a second agent in the same network namespace refuses to start, changing nothing', async () => {
    const before = await routes();
    const other = join(c.work, 'other-nodes.json');
    writeFileSync(other, JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', items: [evil('node1', ['10.244.1.0/24'], ['10.200.0.11']), evil('node2', ['10.244.2.0/24'], ['10.200.0.99'])] }));
    const second = await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'agent', '--node-name', 'node1', '--nodes-file', other, '--cluster-cidr', '10.244.0.0/16', '--conf-dir', join(c.work, 'second-netd'), '--status-file', join(c.work, 'second.json'), '--health-addr', ''], { reject: false, timeout: 20_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain('another flatnet agent runs in this network namespace');
    expect(await routes()).toEqual(before);
  });

  // Found from outside: with the agent stopped, `flatnet status` kept saying a deleted route was installed.
  it('flatnet status shows a peer route as the routing table has it now, not as the agent last left it', async () => {
    await c.stopAgent(n1);
    await execa('ip', ['-n', n1.ns, 'route', 'del', '10.244.2.0/24']);
    const table = await execa('ip', ['netns', 'exec', n1.ns, flatnet, 'status', '--status-file', n1.statusFile]);
    expect(table.stdout).toMatch(/node2\s+10\.244\.2\.0\/24\s+10\.200\.0\.12\s+missing from the routing table now/);
  });
});
