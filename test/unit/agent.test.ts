import { describe, expect, it } from 'vitest';
import { fromNodeList, type NodeInfo, NodeListError } from '../../src/agent/nodes.ts';
import { diffNexthopRoutes, diffRoutes, nexthopIdBase, type PeerRoute, planRoutes } from '../../src/agent/plan.ts';
import { egressRestore } from '../../src/sys/masq-iptables-egress.ts';
import { renderConflist } from '../../src/agent/cni-config.ts';
import { formatCidr, formatIp, parseCidr, parseIp } from '../../src/net/cidr.ts';
import type { IfName } from '../../src/net/names.ts';
import { ipLine } from '../../src/sys/ip-batch.ts';
import type { LinkOp, NexthopState, RouteState } from '../../src/sys/kernel.ts';

const cidr = (s: string) => parseCidr(s)!;
const ip = (s: string) => parseIp(s)!;
const lines = (ops: LinkOp[]): string[] => ops.map((o) => ipLine(o, 1));
const peer = ({ dev, ...r }: { node: string; dst: string; via: string; family: 4 | 6; dev?: string }): PeerRoute => ({ ...r, dst: cidr(r.dst), via: ip(r.via), ...(dev ? { dev: dev as IfName } : {}) });
const kroute = (r: { dst: string; via?: string; nhid?: number }): RouteState => ({ dst: cidr(r.dst), ...(r.via ? { via: ip(r.via) } : {}), ...(r.nhid !== undefined ? { nhid: r.nhid } : {}) });
const knh = (n: { id: number; via?: string; dev?: string; proto?: string }): NexthopState => ({ ...n, ...(n.via ? { via: ip(n.via) } : {}) }) as NexthopState;
const shown = (r: PeerRoute) => ({ node: r.node, dst: formatCidr(r.dst), via: formatIp(r.via), family: r.family, ...(r.dev ? { dev: r.dev } : {}) });

const node = (name: string, podCIDRs: string[], ips: string[]): NodeInfo => ({ name, podCIDRs, internalIPs: ips });

describe('node source parsing', () => {
  it('reads podCIDRs (or the legacy podCIDR) and InternalIPs from a v1.NodeList', () => {
    const list = {
      kind: 'NodeList',
      items: [
        { metadata: { name: 'a' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'Hostname', address: 'a' }, { type: 'InternalIP', address: '10.0.0.1' }] } },
        { kind: 'Node', metadata: { name: 'b' }, spec: { podCIDRs: ['10.244.2.0/24', 'fd00:2::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }, { type: 'InternalIP', address: 'fc00::2' }] } },
      ],
    };
    expect(fromNodeList(list)).toEqual([node('a', ['10.244.1.0/24'], ['10.0.0.1']), node('b', ['10.244.2.0/24', 'fd00:2::/64'], ['10.0.0.2', 'fc00::2'])]);
    expect(fromNodeList({ kind: 'List', items: list.items })).toHaveLength(2); // kubectl get nodes -o json
    expect(fromNodeList(list.items)).toHaveLength(2);
    expect(fromNodeList({ kind: 'NodeList', items: [] })).toEqual([]);
  });
  it('reads metadata.deletionTimestamp as a Node being deleted', () => {
    const item = (name: string, metadata: object) => ({ metadata: { name, ...metadata }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } });
    const [a, b] = fromNodeList({ kind: 'NodeList', items: [item('a', { deletionTimestamp: '2026-12-02T14:00:00Z' }), item('b', { deletionTimestamp: null })] });
    expect(a).toEqual({ ...node('a', ['10.244.1.0/24'], ['10.0.0.1']), deleting: true });
    expect(b).toEqual(node('b', ['10.244.1.0/24'], ['10.0.0.1']));
  });
  // Each of these used to read as "no nodes" and withdrew every route.
  it.each([
    ['{}', {}],
    ['null', null],
    ['{"items":"x"}', { items: 'x' }],
    ['a string', 'nodes'],
    ['another kind of list', { kind: 'PodList', items: [] }],
    ['an item that is not a Node', { kind: 'NodeList', items: [{ kind: 'NotANode' }] }],
    ['an item without a name', { kind: 'NodeList', items: [{ metadata: {} }] }],
    ['a Pod in the items', { kind: 'List', items: [{ kind: 'Pod', metadata: { name: 'p' } }] }],
    ['a name twice', { items: [{ metadata: { name: 'a' } }, { metadata: { name: 'a' } }] }],
  ])('rejects %s instead of reading it as no nodes', (_what, doc) => {
    expect(() => fromNodeList(doc)).toThrow(NodeListError);
  });
});

describe('route planning', () => {
  const base = { selfName: 'a', clusterCIDRs: ['10.244.0.0/16'], localNets: [{ net: cidr('10.0.0.0/24'), addr: ip('10.0.0.1'), dev: 'eth0' as IfName }, { net: cidr('fc00::/64') }] };
  it('routes every peer podCIDR via its InternalIP of the same family, and skips bad peers with a reason', () => {
    const p = planRoutes({
      ...base,
      clusterCIDRs: ['10.244.0.0/16', 'fd00::/48'],
      nodes: [
        node('a', ['10.244.1.0/24'], ['10.0.0.1']),
        node('b', ['10.244.2.0/24', 'fd00:0:0:2::/64'], ['10.0.0.2', 'fc00::2']),
        node('c', [], ['10.0.0.3']),
        node('d', ['10.244.4.0/24'], []),
        node('e', ['10.244.5.0/24'], ['10.244.9.9']),
        node('f', ['10.244.6.0/24'], ['192.168.7.7']),
        node('g', ['nope'], ['10.0.0.7']),
      ],
    });
    expect(p.ownPodCIDRs.map(formatCidr)).toEqual(['10.244.1.0/24']);
    expect(p.problem).toBeUndefined();
    expect(p.routes.map(shown)).toEqual([
      { node: 'b', dst: '10.244.2.0/24', via: '10.0.0.2', family: 4, dev: 'eth0' },
      { node: 'b', dst: 'fd00:0:0:2::/64', via: 'fc00::2', family: 6 },
    ]);
    expect(p.skipped.map((s) => [s.node, s.reason])).toEqual([
      ['c', 'no podCIDR assigned yet'],
      ['g', 'podCIDR "nope" is not a CIDR'],
      ['d', 'no IPv4 InternalIP for podCIDR 10.244.4.0/24'],
      ['e', 'next hop 10.244.9.9 lies inside the cluster CIDR'],
      ['f', 'next hop 192.168.7.7 is not on a directly connected network (nodes must share an L2 segment)'],
    ]);
  });
  it("is ready with this node's bridge on its podCIDR, and keeps peers off that network", () => {
    const p = planRoutes({ ...base, localNets: [...base.localNets, { net: cidr('10.244.1.0/24'), addr: ip('10.244.1.1'), dev: 'cni0' as IfName }], nodes: [node('a', ['10.244.1.0/24'], ['10.0.0.1']), node('b', ['10.244.1.0/25'], ['10.0.0.2'])] });
    expect(p.ownPodCIDRs.map(formatCidr)).toEqual(['10.244.1.0/24']);
    expect(p.problem).toBeUndefined();
    expect(p.skipped).toEqual([{ node: 'b', reason: "podCIDR 10.244.1.0/25 overlaps this node's network 10.244.1.0/24 (cni0)" }]);
  });
  it('is not ready while this node has no podCIDR', () => {
    const p = planRoutes({ ...base, nodes: [node('a', [], ['10.0.0.1'])] });
    expect(p.ownPodCIDRs).toEqual([]);
    expect(p.problem).toBe('node a has no podCIDR assigned yet');
  });
  it('says so when this node is not in the list at all, and still routes the peers', () => {
    const p = planRoutes({ ...base, nodes: [node('b', ['10.244.2.0/24'], ['10.0.0.2'])] });
    expect(p.problem).toBe('node a is not in the node list (set --node-name or NODE_NAME)');
    expect(p.routes.map((r) => formatCidr(r.dst))).toEqual(['10.244.2.0/24']);
  });

  describe('hostile or broken Node objects', () => {
    const self = node('a', ['10.244.1.0/24'], ['10.0.0.1']);
    const good = node('ok', ['10.244.8.0/24'], ['10.0.0.8']);
    const plan = (bad: ReturnType<typeof node>[], extra: Partial<Parameters<typeof planRoutes>[0]> = {}) => planRoutes({ ...base, clusterCIDRs: ['10.244.0.0/16', 'fd00::/48'], nodes: [self, ...bad, good], ...extra });
    const reasons = (p: ReturnType<typeof planRoutes>) => p.skipped.map((s) => `${s.node}: ${s.reason}`);
    const routed = (p: ReturnType<typeof planRoutes>) => p.routes.map((r) => `${r.node} ${formatCidr(r.dst)}`);

    it.each([
      ['0.0.0.0/0', 'podCIDR 0.0.0.0/0 is a default route'],
      ['::/0', 'podCIDR ::/0 is a default route'],
      ['192.168.0.0/24', 'podCIDR 192.168.0.0/24 is outside the cluster CIDR (10.244.0.0/16, fd00::/48)'],
      ['10.0.0.0/24', 'podCIDR 10.0.0.0/24 is outside the cluster CIDR (10.244.0.0/16, fd00::/48)'],
      ['10.0.0.5/32', 'podCIDR 10.0.0.5/32 is outside the cluster CIDR (10.244.0.0/16, fd00::/48)'],
      ['10.0.0.0/8', 'podCIDR 10.0.0.0/8 is outside the cluster CIDR (10.244.0.0/16, fd00::/48)'],
      ['10.244.0.0/16', "podCIDR 10.244.0.0/16 overlaps this node's podCIDR 10.244.1.0/24"],
      ['10.244.1.0/24', "podCIDR 10.244.1.0/24 overlaps this node's podCIDR 10.244.1.0/24"],
      ['10.244.1.128/25', "podCIDR 10.244.1.128/25 overlaps this node's podCIDR 10.244.1.0/24"],
    ])('never routes podCIDR %s', (podCIDR, reason) => {
      const p = plan([node('evil', [podCIDR], ['10.0.0.66'])]);
      expect(reasons(p)).toEqual([`evil: ${reason}`]);
      expect(routed(p)).toEqual(['ok 10.244.8.0/24']);
    });
    it("never routes over this node's own networks, even inside the cluster CIDR", () => {
      const p = plan([node('evil', ['10.244.250.0/24'], ['10.0.0.66'])], { localNets: [...base.localNets, { net: cidr('10.244.250.0/24'), dev: 'cni9' as IfName }] });
      expect(reasons(p)).toEqual(["evil: podCIDR 10.244.250.0/24 overlaps this node's network 10.244.250.0/24 (cni9)"]);
    });
    it('routes a podCIDR two nodes claim to neither of them, and says who else claims it', () => {
      const p = plan([node('x', ['10.244.2.0/24'], ['10.0.0.2']), node('y', ['10.244.2.0/24'], ['10.0.0.3']), node('z', ['10.244.2.128/25'], ['10.0.0.4'])]);
      expect(routed(p)).toEqual(['ok 10.244.8.0/24']);
      expect(reasons(p)).toEqual([
        'x: podCIDR 10.244.2.0/24 is also claimed by y (10.244.2.0/24), z (10.244.2.128/25): routed to no claimant',
        'y: podCIDR 10.244.2.0/24 is also claimed by x (10.244.2.0/24), z (10.244.2.128/25): routed to no claimant',
        'z: podCIDR 10.244.2.128/25 is also claimed by x (10.244.2.0/24), y (10.244.2.0/24): routed to no claimant',
      ]);
    });
    it('does not let a claim that is invalid anyway (0.0.0.0/0) contest the others', () => {
      expect(routed(plan([node('evil', ['0.0.0.0/0', '10.244.0.0/16'], ['10.0.0.66'])]))).toEqual(['ok 10.244.8.0/24']);
    });
    it("never routes via this node's own address", () => {
      const p = plan([node('twin', ['10.244.3.0/24'], ['10.0.0.1'])]);
      expect(reasons(p)).toEqual(["twin: next hop 10.0.0.1 is this node's own address"]);
    });
    // Found from outside: two Nodes giving one InternalIP both got routes via it (one node's pods sent to the other).
    it('routes via neither of two nodes that give the same InternalIP, in either family', () => {
      const p = plan([node('x', ['10.244.2.0/24', 'fd00:0:0:2::/64'], ['10.0.0.2', 'fc00::2']), node('y', ['10.244.3.0/24', 'fd00:0:0:3::/64'], ['10.0.0.2', 'fc00::3'])]);
      expect(reasons(p)).toEqual(['x: InternalIP 10.0.0.2 is also given by y: routed via neither', 'y: InternalIP 10.0.0.2 is also given by x: routed via neither']);
      expect(routed(p)).toEqual(['x fd00:0:0:2::/64', 'y fd00:0:0:3::/64', 'ok 10.244.8.0/24']);
    });
    // issue 21, defect 5: a replacement node registering before the old Node
    // object is deleted gives the same InternalIP; both were left unrouted.
    it('routes the replacement of a Node being deleted that gives its InternalIP, and not the old one', () => {
      const old = { ...node('old', ['10.244.2.0/24', 'fd00:0:0:2::/64'], ['10.0.0.2', 'fc00::2']), deleting: true as const };
      const p = plan([old, node('new', ['10.244.3.0/24', 'fd00:0:0:3::/64'], ['10.0.0.2', 'fc00::2'])]);
      expect(routed(p)).toEqual(['new 10.244.3.0/24', 'new fd00:0:0:3::/64', 'ok 10.244.8.0/24']);
      expect(reasons(p)).toEqual(['old: being deleted, and InternalIP 10.0.0.2 is also given by new, which is not: left to it', 'old: being deleted, and InternalIP fc00::2 is also given by new, which is not: left to it']);
    });
    it('routes the replacement of a Node being deleted that claims its podCIDR, and not the old one', () => {
      const p = plan([{ ...node('old', ['10.244.2.0/24'], ['10.0.0.5']), deleting: true }, node('new', ['10.244.2.0/25'], ['10.0.0.6'])]);
      expect(routed(p)).toEqual(['new 10.244.2.0/25', 'ok 10.244.8.0/24']);
      expect(reasons(p)).toEqual(['old: being deleted, and podCIDR 10.244.2.0/24 overlaps one of new, which is not: left to it']);
    });
    it('still routes a Node being deleted that no other node contests; two being deleted contest each other', () => {
      expect(routed(plan([{ ...node('old', ['10.244.2.0/24'], ['10.0.0.5']), deleting: true }]))).toEqual(['old 10.244.2.0/24', 'ok 10.244.8.0/24']);
      const p = plan([{ ...node('x', ['10.244.2.0/24'], ['10.0.0.5']), deleting: true }, { ...node('y', ['10.244.3.0/24'], ['10.0.0.5']), deleting: true }]);
      expect(routed(p)).toEqual(['ok 10.244.8.0/24']);
      expect(reasons(p)).toEqual(['x: InternalIP 10.0.0.5 is also given by y: routed via neither', 'y: InternalIP 10.0.0.5 is also given by x: routed via neither']);
    });
    // issue 21: a replacement node whose predecessor's kubelet is gone (the
    // old Node is not deleted, only no longer posting status).
    it('routes the replacement of a Node whose kubelet stopped posting status (Ready Unknown, or a stale heartbeat), and not the old one', () => {
      const now = Date.parse('2026-06-01T12:00:00Z');
      const fresh = { heartbeatMs: now - 30_000, ready: 'True' };
      const unknown = plan([{ ...node('old', ['10.244.2.0/24'], ['10.0.0.2']), ready: 'Unknown', heartbeatMs: now - 60_000 }, { ...node('new', ['10.244.3.0/24'], ['10.0.0.2']), ...fresh }], { now });
      expect(routed(unknown)).toEqual(['new 10.244.3.0/24', 'ok 10.244.8.0/24']);
      expect(reasons(unknown)).toEqual(['old: not posting status (Ready Unknown), and InternalIP 10.0.0.2 is also given by new, which is not: left to it']);
      const stale = plan([{ ...node('old', ['10.244.2.0/24'], ['10.0.0.2']), ready: 'True', heartbeatMs: now - 11 * 60_000 }, { ...node('new', ['10.244.3.0/24'], ['10.0.0.2']), ...fresh }], { now });
      expect(routed(stale)).toEqual(['new 10.244.3.0/24', 'ok 10.244.8.0/24']);
      expect(reasons(stale)).toEqual(['old: not posting status (last heartbeat 11 min ago), and InternalIP 10.0.0.2 is also given by new, which is not: left to it']);
      // Within the bound (9 minutes: kubelet may report only every 5) both are live: a real conflict, neither routed.
      const live = plan([{ ...node('old', ['10.244.2.0/24'], ['10.0.0.2']), ready: 'True', heartbeatMs: now - 9 * 60_000 }, { ...node('new', ['10.244.3.0/24'], ['10.0.0.2']), ...fresh }], { now });
      expect(routed(live)).toEqual(['ok 10.244.8.0/24']);
      expect(reasons(live)).toEqual(['old: InternalIP 10.0.0.2 is also given by new: routed via neither', 'new: InternalIP 10.0.0.2 is also given by old: routed via neither']);
    });
    // Found from outside: a route via the node network's own network address was installed.
    it("never routes via the node network's network or broadcast address", () => {
      const p = plan([node('net', ['10.244.3.0/24'], ['10.0.0.0']), node('bcast', ['10.244.4.0/24'], ['10.0.0.255'])]);
      expect(reasons(p)).toEqual(['net: next hop 10.0.0.0 is the network address of 10.0.0.0/24, not a node\'s', 'bcast: next hop 10.0.0.255 is the broadcast address of 10.0.0.0/24, not a node\'s']);
      expect(routed(p)).toEqual(['ok 10.244.8.0/24']);
    });
    it('skips an InternalIP with a zone and routes everyone else', () => {
      const p = plan([node('zoned', ['fd00:0:0:11::/64'], ['fd00::11%eth0']), node('b', ['10.244.2.0/24', 'fd00:0:0:2::/64'], ['10.0.0.2', 'fc00::2'])]);
      expect(reasons(p)).toEqual(['zoned: no IPv6 InternalIP for podCIDR fd00:0:0:11::/64 (not an IP address: "fd00::11%eth0")']);
      expect(routed(p)).toEqual(['b 10.244.2.0/24', 'b fd00:0:0:2::/64', 'ok 10.244.8.0/24']);
    });
    it('never writes over a route flatnet did not make', () => {
      const foreignRoutes: RouteState[] = [{ dst: cidr('10.244.8.0/24'), via: ip('10.0.0.99'), proto: '4' }];
      const p = plan([], { foreignRoutes });
      expect(routed(p)).toEqual([]);
      expect(reasons(p)).toEqual(['ok: the main table already has a route to 10.244.8.0/24 that flatnet did not make (proto 4 via 10.0.0.99); flatnet does not replace it']);
    });
    it("is not ready when this node's own podCIDR is unusable", () => {
      const p = planRoutes({ ...base, nodes: [node('a', ['0.0.0.0/0'], ['10.0.0.1']), good] });
      expect(p.ownPodCIDRs).toEqual([]);
      expect(p.problem).toBe("this node's podCIDR 0.0.0.0/0 is a default route");
      expect(routed(p)).toEqual(['ok 10.244.8.0/24']);
    });
  });
});

describe('route diff', () => {
  const want = [peer({ node: 'b', dst: '10.244.2.0/24', via: '10.0.0.2', family: 4 }), peer({ node: 'c', dst: '10.244.3.0/24', via: '10.0.0.3', family: 4 })];
  it('adds missing, replaces changed, deletes unwanted', () => {
    expect(lines(diffRoutes(want, [kroute({ dst: '10.244.3.0/24', via: '10.0.0.9' }), kroute({ dst: '10.244.9.0/24', via: '10.0.0.9' })], 201))).toEqual([
      'route replace 10.244.2.0/24 via 10.0.0.2 proto 201',
      'route replace 10.244.3.0/24 via 10.0.0.3 proto 201',
      'route del 10.244.9.0/24 proto 201',
    ]);
  });
  it('writes nothing when nothing differs', () => {
    expect(diffRoutes(want, [kroute({ dst: '10.244.2.0/24', via: '10.0.0.2' }), kroute({ dst: '10.244.3.0/24', via: '10.0.0.3' })], 201)).toEqual([]);
  });
  it('handles 5,000 peers quickly enough to diff on every event', () => {
    const many = Array.from({ length: 5000 }, (_, i) => peer({ node: `n${i}`, dst: `10.${Math.floor(i / 256)}.${i % 256}.0/24`, via: '10.255.0.1', family: 4 }));
    expect(diffRoutes(many, many.map((r) => ({ dst: r.dst, via: r.via })), 201)).toEqual([]);
    expect(diffRoutes(many, [], 201)).toHaveLength(5000);
  });
});

describe('route diff through nexthop objects', () => {
  const want = [
    peer({ node: 'b', dst: '10.244.2.0/24', via: '10.0.0.2', family: 4, dev: 'eth0' }),
    peer({ node: 'c', dst: '10.244.3.0/24', via: '10.0.0.3', family: 4, dev: 'eth0' }),
    peer({ node: 'c', dst: 'fd00:3::/64', via: 'fc00::3', family: 6, dev: 'eth1' }),
  ];
  const B = nexthopIdBase(201);
  it('makes one nexthop per next hop, with ids that skip taken ones, before the routes that use them', () => {
    expect(lines(diffNexthopRoutes(want, [], [knh({ id: B, via: '192.0.2.1', dev: 'x' })], 201))).toEqual([
      `nexthop replace id ${B + 1} via 10.0.0.2 dev "eth0" proto 201`,
      `nexthop replace id ${B + 2} via 10.0.0.3 dev "eth0" proto 201`,
      `nexthop replace id ${B + 3} via fc00::3 dev "eth1" proto 201`,
      `route replace 10.244.2.0/24 nhid ${B + 1} proto 201`,
      `route replace 10.244.3.0/24 nhid ${B + 2} proto 201`,
      `route replace fd00:3::/64 nhid ${B + 3} proto 201`,
    ]);
  });
  it('takes its nexthop ids from the range of --route-protocol, never adopting another protocol\'s range', () => {
    const P = nexthopIdBase(77);
    expect(P).not.toBe(B);
    // 201's nexthop tagged proto 77 by someone else stays theirs; 77's own range is used.
    const out = lines(diffNexthopRoutes(want.slice(0, 1), [], [knh({ id: B, via: '10.0.0.2', dev: 'eth0', proto: '77' })], 77));
    expect(out).toEqual([`nexthop replace id ${P} via 10.0.0.2 dev "eth0" proto 77`, `route replace 10.244.2.0/24 nhid ${P} proto 77`]);
  });
  it('writes nothing when routes and nexthops are as wanted', () => {
    const nhs = [
      { id: B + 7, via: '10.0.0.2', dev: 'eth0', proto: '201' },
      { id: B + 8, via: '10.0.0.3', dev: 'eth0', proto: '201' },
      { id: B + 9, via: 'fc00::3', dev: 'eth1', proto: '201' },
    ].map(knh);
    const routes = [
      { dst: '10.244.2.0/24', via: '10.0.0.2', nhid: B + 7 },
      { dst: '10.244.3.0/24', via: '10.0.0.3', nhid: B + 8 },
      { dst: 'fd00:3::/64', via: 'fc00::3', nhid: B + 9 },
    ].map(kroute);
    expect(diffNexthopRoutes(want, routes, nhs, 201)).toEqual([]);
  });
  it('moves plain routes onto nexthops, deletes unwanted routes, then our unused nexthops, never foreign ones', () => {
    const nhs = [
      { id: B + 7, via: '10.0.0.2', dev: 'eth0', proto: '201' },
      { id: B + 8, via: '10.0.0.9', dev: 'eth0', proto: '201' },
      { id: 5, via: '10.0.0.9', dev: 'eth0' },
    ].map(knh);
    const routes = [
      { dst: '10.244.2.0/24', via: '10.0.0.2' },
      { dst: '10.244.9.0/24', via: '10.0.0.9', nhid: B + 8 },
    ].map(kroute);
    expect(lines(diffNexthopRoutes(want.slice(0, 1), routes, nhs, 201))).toEqual([
      `route replace 10.244.2.0/24 nhid ${B + 7} proto 201`,
      'route del 10.244.9.0/24 proto 201',
      `nexthop del id ${B + 8}`,
    ]);
  });
  // Found from outside: deleting our nexthop deleted an admin's route through it; a proto-201 nexthop of
  // someone else's (outside our id range) was adopted.
  it('keeps a nexthop of ours that a route of someone else uses, and never takes a nexthop outside its id range', () => {
    const nhs = [
      { id: B + 8, via: '10.0.0.9', dev: 'eth0', proto: '201' },
      { id: 77, via: '10.0.0.2', dev: 'eth0', proto: '201' },
    ].map(knh);
    const routes = [{ dst: '10.244.9.0/24', via: '10.0.0.9', nhid: B + 8 }].map(kroute);
    expect(lines(diffNexthopRoutes(want.slice(0, 1), routes, nhs, 201, new Set([B + 8])))).toEqual([
      `nexthop replace id ${B} via 10.0.0.2 dev "eth0" proto 201`,
      `route replace 10.244.2.0/24 nhid ${B} proto 201`,
      'route del 10.244.9.0/24 proto 201',
    ]);
  });
  it('uses a plain route where the next hop has no known link', () => {
    const { dev: _dev, ...noDev } = want[0]!;
    expect(lines(diffNexthopRoutes([noDev], [], [], 201))).toEqual(['route replace 10.244.2.0/24 via 10.0.0.2 proto 201']);
  });
});

describe('egress masquerade rules', () => {
  it('rebuilds the chain, keeps the right jump and removes jumps for an old podCIDR', () => {
    const saved = '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.244.1.0/24 -j FLATNET-MASQ\n-A POSTROUTING -s 10.244.7.0/24 -j FLATNET-MASQ\nCOMMIT\n';
    expect(egressRestore(saved, [cidr('10.244.1.0/24')], [cidr('10.244.0.0/16'), cidr('10.0.0.2/32')])!.split('\n')).toEqual([
      '*nat',
      ':FLATNET-MASQ - [0:0]',
      '-A FLATNET-MASQ -d 10.244.0.0/16 -j RETURN',
      '-A FLATNET-MASQ -d 10.0.0.2/32 -j RETURN',
      '-A FLATNET-MASQ -j MASQUERADE',
      '-D POSTROUTING -s 10.244.7.0/24 -j FLATNET-MASQ',
      'COMMIT',
      '',
    ]);
  });
  it('writes nothing when the chain and jumps are already right', () => {
    const saved = '*nat\n:POSTROUTING ACCEPT [0:0]\n:FLATNET-MASQ - [0:0]\n-A POSTROUTING -s 10.244.1.0/24 -j FLATNET-MASQ\n-A FLATNET-MASQ -d 10.244.0.0/16 -j RETURN\n-A FLATNET-MASQ -j MASQUERADE\nCOMMIT\n';
    expect(egressRestore(saved, [cidr('10.244.1.0/24')], [cidr('10.244.0.0/16')])).toBeUndefined();
  });
});

describe('conflist rendering', () => {
  it('renders flatnet + flatnet-ipam with one range set per podCIDR', () => {
    const c = JSON.parse(renderConflist({ name: 'flatnet', bridge: 'cni0', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'] }));
    expect(c.plugins[0]).toMatchObject({ type: 'flatnet', isDefaultGateway: true, ipMasq: false, ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:1::/64' }]] } });
  });
});
