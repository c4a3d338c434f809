// The agent's sync against a recording kernel that models routes and
// nexthops the way the kernel keys them (a replace overwrites whatever has
// that destination, whoever made it): which ops it sends, what it reports,
// and what it never touches.
import { afterEach, describe, expect, it } from 'vitest';
import { nexthopIdBase } from '../../src/agent/plan.ts';
import { KernelError } from '../../src/sys/kernel.ts';
import { agentBed, cidr, ip, node } from '../fakes/agent-bed.ts';

const B = nexthopIdBase(201);
let bed: ReturnType<typeof agentBed>;
afterEach(() => bed?.remove());

const peers = () => [node('b', ['10.244.2.0/24'], ['10.0.0.2']), node('c', ['10.244.3.0/24', 'fd00:0:0:3::/64'], ['10.0.0.3', 'fc00::3'])];

describe('agent sync', () => {
  it('installs one nexthop per peer and routes through them, then writes nothing on the next sync', async () => {
    bed = agentBed();
    const r = await bed.agent.sync([bed.self, ...peers()]);
    expect(r.failed).toEqual([]);
    expect(r.ready).toBe(true);
    expect(bed.ours()).toEqual([`10.244.2.0/24 via 10.0.0.2 dev eth0 proto 201 nhid ${B}`, `10.244.3.0/24 via 10.0.0.3 dev eth0 proto 201 nhid ${B + 1}`, `fd00:0:0:3::/64 via fc00::3 dev eth0 proto 201 nhid ${B + 2}`]);
    const again = await bed.agent.sync([bed.self, ...peers()]);
    expect(again.routeWrites).toBe(0);
    expect(bed.status()).toMatchObject({ node: 'self', ready: true, podCIDRs: ['10.244.1.0/24'], peers: [{ node: 'b', state: 'installed' }, { node: 'c', state: 'installed' }, { node: 'c', state: 'installed' }] });
  });

  it('falls back to a plain route for a peer whose nexthop the kernel refuses (no carrier), and routes it', async () => {
    bed = agentBed();
    bed.kernel.fail = (c) => (/^nexthop replace .* via 10\.0\.0\.3 /.test(c.what) ? new KernelError('unreachable', undefined, 'Error: Carrier for nexthop device is down.', c.what) : undefined);
    const r = await bed.agent.sync([bed.self, ...peers()]);
    expect(r.failed).toEqual([]);
    expect(bed.ours()).toEqual([`10.244.2.0/24 via 10.0.0.2 dev eth0 proto 201 nhid ${B}`, `fd00:0:0:3::/64 via fc00::3 dev eth0 proto 201 nhid ${B + 2}`, '10.244.3.0/24 via 10.0.0.3 proto 201']);
    expect(bed.kernel.log().filter((l) => l.includes('10.244.3.0/24'))).toEqual([`host: route replace 10.244.3.0/24 nhid ${B + 1} proto 201`, 'host: route replace 10.244.3.0/24 via 10.0.0.3 proto 201']);
    // Carrier back: the next sync moves it onto a nexthop.
    bed.kernel.fail = () => undefined;
    await bed.agent.sync([bed.self, ...peers()]);
    expect(bed.ours()).toContain(`10.244.3.0/24 via 10.0.0.3 dev eth0 proto 201 nhid ${B + 1}`);
  });

  it('a sync that fails after a good one leaves the status file not ready, with the reason (the plugin\'s STATUS reads it)', async () => {
    bed = agentBed();
    await bed.agent.sync([bed.self, ...peers()]);
    expect(bed.status()).toMatchObject({ ready: true });
    bed.kernel.fail = (c) => (c.what.startsWith('sysctl net/ipv4/ip_forward') ? new KernelError('other', undefined, 'net.ipv4.ip_forward is not 1 and /proc/sys is read-only here', c.what) : undefined);
    await expect(bed.agent.sync([bed.self, ...peers()])).rejects.toThrow('read-only');
    expect(bed.status()).toMatchObject({ ready: false, problem: 'last sync failed: sysctl net/ipv4/ip_forward=1: net.ipv4.ip_forward is not 1 and /proc/sys is read-only here' });
    bed.kernel.fail = () => undefined;
    await bed.agent.sync([bed.self, ...peers()]);
    expect(bed.status()).toMatchObject({ ready: true });
    expect(bed.status().problem).toBeUndefined();
  });

  it('uses plain routes on a kernel without nexthop objects', async () => {
    bed = agentBed();
    bed.kernel.nexthopList = undefined;
    await bed.agent.sync([bed.self, ...peers()]);
    expect(bed.ours()).toEqual(['10.244.2.0/24 via 10.0.0.2 proto 201', '10.244.3.0/24 via 10.0.0.3 proto 201', 'fd00:0:0:3::/64 via fc00::3 proto 201']);
  });

  it('maps each failure of the batch back to its peer, and still routes the others', async () => {
    bed = agentBed();
    // Everything about node b fails; the batch goes on (ip -force).
    bed.kernel.fail = (c) => (/10\.0\.0\.2|10\.244\.2\.0/.test(c.what) ? new KernelError('other', undefined, 'Error: boom.', c.what) : undefined);
    const r = await bed.agent.sync([bed.self, ...peers()]);
    expect(r.failed).toEqual([{ node: 'b', podCIDR: '10.244.2.0/24', error: 'Error: boom.; as a plain route: Error: boom.' }]);
    expect(bed.ours()).toEqual([`10.244.3.0/24 via 10.0.0.3 dev eth0 proto 201 nhid ${B + 1}`, `fd00:0:0:3::/64 via fc00::3 dev eth0 proto 201 nhid ${B + 2}`]);
    expect(bed.status().peers).toContainEqual({ node: 'b', podCIDR: '10.244.2.0/24', via: '10.0.0.2', state: 'failed: Error: boom.; as a plain route: Error: boom.' });
  });

  it('never replaces or deletes a route or nexthop it did not make', async () => {
    bed = agentBed();
    const foreignRoutes = [
      { dst: cidr('10.244.2.0/24'), via: ip('10.0.0.77'), dev: 'eth0', proto: '4' }, // an admin's route to b's podCIDR
      { dst: cidr('10.244.9.0/24'), via: ip('10.0.0.9'), dev: 'eth0', proto: '4' },
    ];
    bed.kernel.routesByNs.get('host')!.push(...foreignRoutes);
    bed.kernel.nexthopList = [
      { id: B, via: ip('10.0.0.3'), dev: 'eth0', proto: '4' }, // a foreign nexthop in our id range, to the same next hop
      { id: 5, via: ip('10.0.0.9'), dev: 'eth0', proto: '3' },
    ];
    const before = { routes: bed.routes().filter((r) => !r.includes('proto 201')), nexthops: bed.nexthops() };
    const r = await bed.agent.sync([bed.self, ...peers(), node('evil', ['0.0.0.0/0'], ['10.0.0.66'])]);
    expect(bed.routes().filter((x) => !x.includes('proto 201'))).toEqual(before.routes);
    expect(bed.nexthops().filter((x) => !x.includes('proto 201'))).toEqual(before.nexthops);
    expect(r.plan.skipped.map((s) => s.node)).toEqual(['evil', 'b']);
    const foreignIds = new RegExp(`id (5|${B}) `);
    expect(bed.kernel.log().filter((l) => / (10\.244\.2\.0|10\.244\.9\.0|0\.0\.0\.0)\//.test(l) || foreignIds.test(l))).toEqual([]);
    // Deleting stale routes names our protocol, so the kernel never matches someone else's.
    bed.kernel.routesByNs.get('host')!.push({ dst: cidr('10.244.7.0/24'), via: ip('10.0.0.7'), proto: '201' });
    await bed.agent.sync([bed.self, ...peers()]);
    expect(bed.kernel.log()).toContain('host: route del 10.244.7.0/24 proto 201');
  });

  it('keeps routes through an empty-looking sync only when the list says so: peers gone from the list are withdrawn', async () => {
    bed = agentBed();
    await bed.agent.sync([bed.self, ...peers()]);
    await bed.agent.sync([bed.self]);
    expect(bed.ours()).toEqual([]);
    expect(bed.nexthops()).toEqual([]);
  });

  it('reports in the status file every skipped peer with its reason, and that this node is missing from the list', async () => {
    bed = agentBed();
    const r = await bed.agent.sync([...peers(), node('twin', ['10.244.4.0/24'], ['10.0.0.1'])]);
    expect(r.ready).toBe(false);
    expect(bed.status()).toMatchObject({
      ready: false,
      problem: 'node self is not in the node list (set --node-name or NODE_NAME)',
      skipped: [{ node: 'twin', reason: "next hop 10.0.0.1 is this node's own address" }],
    });
    expect(bed.ours()).toHaveLength(3);
  });
});

describe("the agent's egress masquerade", () => {
  const dualSelf = () => node('self', ['10.244.1.0/24', 'fd00:0:0:1::/64'], ['10.0.0.1', 'fc00::1']);

  // Found on a real cluster: an API server, load balancer or NFS host on the
  // node network that is no node has no route back to pod subnets.
  it('leaves only the cluster CIDRs unmasqueraded, per family: the node network and the peers on it are masqueraded', async () => {
    bed = agentBed();
    await bed.agent.sync([dualSelf(), ...peers()]);
    expect(bed.kernel.egress.get(4)).toEqual({ pods: ['10.244.1.0/24'], noMasq: ['10.244.0.0/16'] });
    expect(bed.kernel.egress.get(6)).toEqual({ pods: ['fd00:0:0:1::/64'], noMasq: ['fd00::/48'] });
  });

  it("with exemptNodeNetworks (--no-masquerade-node-network), this node's networks are left unmasqueraded too", async () => {
    bed = agentBed({ exemptNodeNetworks: true });
    await bed.agent.sync([dualSelf(), ...peers()]);
    expect(bed.kernel.egress.get(4)).toEqual({ pods: ['10.244.1.0/24'], noMasq: ['10.244.0.0/16', '10.0.0.0/24'] });
    expect(bed.kernel.egress.get(6)).toEqual({ pods: ['fd00:0:0:1::/64'], noMasq: ['fd00::/48', 'fc00::/64'] });
  });
});
