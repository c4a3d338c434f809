// Properties of the agent's planning and sync over random node lists,
// hostile ones included (default routes, CIDRs over this node's networks or
// podCIDR, shared podCIDRs, next hops that are this node, zoned or garbage
// addresses, routes someone else made to the same destinations). The
// contest rule is checked against a brute-force pairwise oracle.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalNet, planRoutes } from '../../src/agent/plan.ts';
import { type Addr, addrEq, type Cidr, contains, formatCidr, formatIp, networkOf, overlaps, parseCidr, parseIp } from '../../src/net/cidr.ts';
import type { IfName } from '../../src/net/names.ts';
import type { NexthopState, RouteState } from '../../src/sys/kernel.ts';
import { agentBed, nexthopText, node, routeText } from '../fakes/agent-bed.ts';

const CLUSTER = ['10.244.0.0/16', 'fd00::/48'];
const cluster = CLUSTER.map((c) => parseCidr(c)!);

const v4 = (hi: number, rest: fc.Arbitrary<number>) => rest.map((n) => `${hi >>> 24}.${(hi >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`);
const addr4 = fc.oneof(
  v4(0x0a000000, fc.integer({ min: 0, max: 0xffff }).map((n) => n & 0xff)), // 10.0.0.x: the node network (.1 is this node)
  v4(0x0af40000, fc.integer({ min: 0, max: 0xffff })), // inside the cluster CIDR
  fc.ipV4(),
);
const addr6 = fc.oneof(
  fc.integer({ min: 0, max: 20 }).map((n) => `fc00::${n.toString(16)}`), // the node's v6 network (fc00::1 is this node)
  fc.integer({ min: 0, max: 0xffff }).map((n) => `fd00::${n.toString(16)}:0:0:0:0`),
  fc.ipV6(),
);
const prefix4 = fc.oneof(fc.constantFrom(0, 8, 16, 24, 25, 32), fc.integer({ min: 0, max: 32 }));
const prefix6 = fc.oneof(fc.constantFrom(0, 48, 56, 64, 128), fc.integer({ min: 0, max: 128 }));
const podCIDR = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(22, 23, 24, 24, 24, 25, 26)).map(([n, p]) => `10.244.${(n >>> 8) & 255}.${n & 255}/${p}`) },
  { weight: 2, arbitrary: fc.tuple(addr4, prefix4).map(([a, p]) => `${a}/${p}`) },
  { weight: 2, arbitrary: fc.tuple(addr6, prefix6).map(([a, p]) => `${a}/${p}`) },
  { weight: 1, arbitrary: fc.constantFrom('0.0.0.0/0', '::/0', '10.244.1.0/24', '10.0.0.0/24', '10.0.0.7/32', 'fc00::/64', 'fd00::/48', '10.244.0.0/16', 'x', '', '10.244.2.0/24%eth0') },
);
const internalIP = fc.oneof(
  { weight: 6, arbitrary: addr4 },
  { weight: 2, arbitrary: addr6 },
  { weight: 1, arbitrary: fc.constantFrom('10.0.0.1', 'fc00::1', 'fd00::11%eth0', 'fe80::1%eth0', 'garbage', '10.0.0.2 ') },
);
const names = fc.uniqueArray(fc.constantFrom(...Array.from({ length: 24 }, (_, i) => `n${i}`)), { maxLength: 12 });
const nodeList = names.chain((ns) =>
  fc.tuple(
    fc.tuple(...ns.map((n) => fc.tuple(fc.constant(n), fc.array(podCIDR, { maxLength: 3 }), fc.array(internalIP, { maxLength: 3 })))),
    fc.option(fc.array(podCIDR, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  ),
).map(([peers, selfCIDRs]) => [...peers.map(([n, c, i]) => node(n, c, i)), ...(selfCIDRs ? [node('self', selfCIDRs, ['10.0.0.1'])] : [])]);
const foreignDsts = fc.array(podCIDR.map((s) => parseCidr(s)).filter((c): c is Cidr => c !== undefined), { maxLength: 5 });

const LOCAL: LocalNet[] = [
  { net: parseCidr('10.0.0.0/24')!, addr: parseIp('10.0.0.1')!, dev: 'eth0' as IfName },
  { net: parseCidr('fc00::/64')!, addr: parseIp('fc00::1')!, dev: 'eth0' as IfName },
  { net: parseCidr('10.244.250.0/24')!, addr: parseIp('10.244.250.1')!, dev: 'cni9' as IfName },
  { net: parseCidr('127.0.0.0/8')!, addr: parseIp('127.0.0.1')!, dev: 'lo' as IfName, scoped: true },
];

/** A podCIDR that could be a pod subnet here at all, whoever claims it (the oracle's version of the rules). */
function usableSubnet(s: string, own: Cidr[]): Cidr | undefined {
  const c = parseCidr(s);
  if (!c || c.prefix === 0) return undefined;
  const n = networkOf(c);
  if (!cluster.some((cl) => cl.prefix <= n.prefix && contains(cl, n))) return undefined;
  if (LOCAL.some((l) => overlaps(l.net, n)) || own.some((o) => overlaps(o, n))) return undefined;
  return n;
}

describe('route planning over random node lists', () => {
  it('never plans a route that could take traffic from someone else', () => {
    fc.assert(
      fc.property(nodeList, foreignDsts, (nodes, fdsts) => {
        const foreignRoutes: RouteState[] = fdsts.map((d) => ({ dst: networkOf(d), proto: '4' }));
        const p = planRoutes({ selfName: 'self', nodes, clusterCIDRs: CLUSTER, localNets: LOCAL, foreignRoutes });
        const self = nodes.find((n) => n.name === 'self');
        const own = (self?.podCIDRs ?? []).flatMap((s) => parseCidr(s) ?? []).filter((c) => c.prefix > 0);
        const ownAddrs: Addr[] = [...LOCAL.map((l) => l.addr!), ...(self?.internalIPs ?? []).flatMap((s) => parseIp(s) ?? [])];
        const seen = new Set<string>();
        for (const r of p.routes) {
          const d = formatCidr(r.dst);
          expect(r.dst.prefix, d).toBeGreaterThan(0);
          expect(cluster.some((c) => c.prefix <= r.dst.prefix && contains(c, r.dst)), `${d} inside the cluster CIDR`).toBe(true);
          expect(own.some((o) => overlaps(o, r.dst)), `${d} over this node's podCIDR`).toBe(false);
          expect(LOCAL.some((l) => overlaps(l.net, r.dst)), `${d} over a local network`).toBe(false);
          expect(seen.has(d), `two routes to ${d}`).toBe(false);
          seen.add(d);
          expect(ownAddrs.some((a) => addrEq(a, r.via)), `${d} via this node (${formatIp(r.via)})`).toBe(false);
          expect(LOCAL.some((l) => !l.scoped && contains(l.net, r.via)), `${d} via a connected next hop`).toBe(true);
          expect(foreignRoutes.some((f) => formatCidr(f.dst) === d), `${d} over a foreign route`).toBe(false);
          expect(r.node).not.toBe('self');
          // Oracle: no other node claims an overlapping usable podCIDR.
          for (const other of nodes) {
            if (other.name === r.node || other.name === 'self') continue;
            for (const s of other.podCIDRs) {
              const c = usableSubnet(s, own);
              expect(c && overlaps(c, r.dst), `${d} of ${r.node} is contested by ${other.name} (${s})`).toBeFalsy();
            }
          }
        }
        // Every podCIDR of every peer is either routed or explained, exactly once (never both,
        // never neither): one outcome per distinct network, one per entry that is not a CIDR,
        // and one "no podCIDR" for a peer without any.
        for (const n of nodes) {
          if (n.name === 'self') continue;
          const routed = p.routes.filter((r) => r.node === n.name);
          const skipped = p.skipped.filter((s) => s.node === n.name);
          const parsed = n.podCIDRs.flatMap((c) => parseCidr(c) ?? []);
          const outcomes = n.podCIDRs.length === 0 ? 1 : n.podCIDRs.length - parsed.length + new Set(parsed.map((c) => formatCidr(networkOf(c)))).size;
          expect(routed.length + skipped.length, `${n.name} (${n.podCIDRs.join(' ')}): ${JSON.stringify(skipped)}`).toBe(outcomes);
          for (const r of routed) {
            const d = formatCidr(r.dst);
            expect(skipped.filter((s) => s.reason.startsWith(`podCIDR ${d} `)), `${d} of ${n.name} both routed and skipped`).toEqual([]);
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});

// issue 21, defect 5: a replacement registering before the old Node is gone.
describe('Nodes being deleted, over random node lists', () => {
  const marked = fc.tuple(nodeList, fc.array(fc.boolean(), { minLength: 13, maxLength: 13 })).map(([nodes, flags]) => nodes.map((n, i) => (n.name !== 'self' && flags[i] ? { ...n, deleting: true as const } : n)));
  const text = (rs: ReturnType<typeof planRoutes>['routes']) => rs.map((r) => `${r.node} ${formatCidr(r.dst)} via ${formatIp(r.via)}`).sort();
  const first = (ips: string[], family: 4 | 6) => ips.flatMap((s) => parseIp(s) ?? []).find((a) => a.family === family);

  it('never change what the other nodes get, and are routed only where no other node gives their next hop or claims over their podCIDR', () => {
    fc.assert(
      fc.property(marked, (nodes) => {
        const p = planRoutes({ selfName: 'self', nodes, clusterCIDRs: CLUSTER, localNets: LOCAL });
        // Oracle: the plan without the nodes being deleted.
        const without = planRoutes({ selfName: 'self', nodes: nodes.filter((n) => !n.deleting), clusterCIDRs: CLUSTER, localNets: LOCAL });
        const deleting = new Set(nodes.filter((n) => n.deleting).map((n) => n.name));
        expect(text(p.routes.filter((r) => !deleting.has(r.node)))).toEqual(text(without.routes));
        const own = (nodes.find((n) => n.name === 'self')?.podCIDRs ?? []).flatMap((s) => parseCidr(s) ?? []).filter((c) => c.prefix > 0);
        for (const r of p.routes.filter((x) => deleting.has(x.node))) {
          for (const other of nodes) {
            if (other.deleting || other.name === 'self') continue;
            const via = first(other.internalIPs, r.family);
            expect(via && addrEq(via, r.via), `${r.node} routed via ${formatIp(r.via)}, which ${other.name} gives`).toBeFalsy();
            for (const s of other.podCIDRs) {
              const c = usableSubnet(s, own);
              expect(c && overlaps(c, r.dst), `${r.node}'s ${formatCidr(r.dst)} routed over ${other.name}'s ${s}`).toBeFalsy();
            }
          }
        }
        for (const n of nodes) {
          if (n.name === 'self') continue;
          expect(p.routes.some((r) => r.node === n.name) || p.skipped.some((x) => x.node === n.name), `${n.name} is accounted for`).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('agent sync over random node lists and kernel states', () => {
  let bed: ReturnType<typeof agentBed> | undefined;
  afterEach(() => bed?.remove());
  const foreignNexthops = fc.uniqueArray(
    fc.record({ id: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 201 * 2 ** 24, max: 201 * 2 ** 24 + 4 })), via: fc.constantFrom('10.0.0.2', '10.0.0.3', '10.0.0.9'), proto: fc.constantFrom('3', '4', '186') }),
    { maxLength: 4, selector: (n: { id: number }) => n.id },
  );

  it('touches only its own routes and nexthops, ends with exactly the planned routes, and a second sync writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(nodeList, nodeList, foreignDsts, foreignNexthops, async (first, second, fdsts, fnhs) => {
        bed?.remove();
        bed = agentBed();
        bed.kernel.routesByNs.get('host')!.push(...fdsts.map((d): RouteState => ({ dst: networkOf(d), via: parseIp('10.0.0.9')!, dev: 'eth0', proto: '4' })));
        bed.kernel.nexthopList = fnhs.map((n): NexthopState => ({ id: n.id, via: parseIp(n.via)!, dev: 'eth0', proto: n.proto }));
        const foreign = () => ({ routes: bed!.routes().filter((r) => !/proto 201/.test(r)), nexthops: bed!.nexthops().filter((n) => !/proto 201/.test(n)) });
        const before = foreign();
        // Two different lists in a row: the second sync has our own earlier routes to move or remove.
        for (const nodes of [first, second]) {
          const r = await bed.agent.sync(nodes);
          expect(foreign()).toEqual(before);
          const want = r.plan.routes.map((p) => `${formatCidr(p.dst)} via ${formatIp(p.via)}`).sort();
          const have = (bed.kernel.routesByNs.get('host') ?? []).filter((x) => x.proto === '201').map((x) => `${formatCidr(x.dst)} via ${formatIp(x.via!)}`).sort();
          expect(have).toEqual(want);
          expect(bed.kernel.log().some((l) => / (0\.0\.0\.0|::)\/0 /.test(l))).toBe(false);
        }
        const again = await bed.agent.sync(second);
        expect(again.routeWrites).toBe(0);
        // Only our nexthops that a route uses are left.
        const used = new Set((bed.kernel.routesByNs.get('host') ?? []).flatMap((x) => (x.nhid !== undefined ? [x.nhid] : [])));
        expect((bed.kernel.nexthopList ?? []).filter((n) => n.proto === '201' && !used.has(n.id)).map((n) => nexthopText(n))).toEqual([]);
        void routeText;
      }),
      { numRuns: 150 },
    );
  });
});
