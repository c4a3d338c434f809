// nftables masquerade, the pure parts: the Go layout's hashes, comments and
// transaction text (against the Go plugin's own test vectors), the egress
// table's diff and the backend choice.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseBridgeConf } from '../../plugin/netconf.ts';
import { type Cidr, parseCidr } from '../../src/net/cidr.ts';
import { defaultBackend } from '../../src/sys/masq-detect.ts';
import { attachmentRules, commentForInstance, hashForInstance, hashForNetwork, podSetupScript, podTableReady, staleNetworkRules } from '../../src/sys/masq-nftables.ts';
import { egressScript, egressState, mergeRanges } from '../../src/sys/masq-nftables-egress.ts';
import { cutUtf8, nftString, parseNftJson } from '../../src/sys/nft.ts';

const cidr = (s: string): Cidr => parseCidr(s)!;

describe('the Go layout (pkg/ip/ipmasq_nftables_linux.go)', () => {
  it.each([
    ['unit-test', 'eth0', 'one', '6fd94d501e58f0aa-287fc69eff0574a2'],
    ['unit-test', 'eth0', 'two', '6fd94d501e58f0aa-d750b2c8f0f25d5f'],
    ['unit-test', 'eth0', 'three', '6fd94d501e58f0aa-a4d4adb82b669cfe'],
    ['alternate', 'net1', 'three', '82783ef24bdc7036-acb19d111858e348'],
  ])('hashes %s %s:%s as the reference vectors', (net, ifName, id, want) => {
    expect(hashForInstance(net, ifName, id)).toBe(want);
    expect(hashForNetwork(net)).toBe(want.slice(0, 16));
    expect(commentForInstance(net, ifName, id)).toBe(`${want}, net: ${net}, if: ${ifName}, id: ${id}`);
  });

  it("prints the setup transaction byte for byte as knftables prints Go's", () => {
    const script = podSetupScript({ network: 'unit-test', ifName: 'eth0', containerId: 'two', addresses: [cidr('192.168.1.2/24'), cidr('2001:db8::2/64')] }, [7, 9]);
    const T = 'inet cni_plugins_masquerade';
    expect(script.split('\n')).toEqual([
      `add table ${T} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
      `add chain ${T} masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
      `flush chain ${T} postrouting`,
      `add rule ${T} postrouting ip daddr == 224.0.0.0/4  return`,
      `add rule ${T} postrouting ip6 daddr == ff00::/8  return`,
      `add rule ${T} postrouting goto masq_checks`,
      `delete rule ${T} masq_checks handle 7`,
      `delete rule ${T} masq_checks handle 9`,
      `add rule ${T} masq_checks ip saddr == 192.168.1.2 ip daddr != 192.168.1.0/24 masquerade comment "6fd94d501e58f0aa-d750b2c8f0f25d5f, net: unit-test, if: eth0, id: two"`,
      `add rule ${T} masq_checks ip6 saddr == 2001:db8::2 ip6 daddr != 2001:db8::/64 masquerade comment "6fd94d501e58f0aa-d750b2c8f0f25d5f, net: unit-test, if: eth0, id: two"`,
      '',
    ]);
  });

  it("adds only the attachment's rules to a table that is already Go's, and refills it otherwise", () => {
    const a = { network: 'unit-test', ifName: 'eth0', containerId: 'one', addresses: [cidr('192.168.1.1/24')] };
    expect(podSetupScript(a, [3], { full: false }).split('\n')).toEqual([
      'delete rule inet cni_plugins_masquerade masq_checks handle 3',
      'add rule inet cni_plugins_masquerade masq_checks ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24 masquerade comment "6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one"',
      '',
    ]);
    const table = (post: object[], prio = 100) =>
      parseNftJson(
        JSON.stringify({
          nftables: [
            { metainfo: { json_schema_version: 1 } },
            { chain: { family: 'inet', table: 'cni_plugins_masquerade', name: 'masq_checks', handle: 1 } },
            { chain: { family: 'inet', table: 'cni_plugins_masquerade', name: 'postrouting', handle: 2, type: 'nat', hook: 'postrouting', prio, policy: 'accept' } },
            ...post.map((expr, i) => ({ rule: { family: 'inet', table: 'cni_plugins_masquerade', chain: 'postrouting', handle: 3 + i, expr } })),
          ],
        }),
      );
    // As nft 1.0.6 prints Go's three postrouting rules.
    const go = [
      [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '224.0.0.0', len: 4 } } } }, { return: null }],
      [{ match: { op: '==', left: { payload: { protocol: 'ip6', field: 'daddr' } }, right: { prefix: { addr: 'ff00::', len: 8 } } } }, { return: null }],
      [{ goto: { target: 'masq_checks' } }],
    ];
    expect(podTableReady(table(go))).toBe(true);
    expect(podTableReady(table(go, 0))).toBe(false);
    expect(podTableReady(table(go.slice(0, 2)))).toBe(false);
    expect(podTableReady(table([...go, [{ accept: null }]]))).toBe(false);
  });

  it("cuts comments to nftables' 128 bytes and keeps only what an nft string can carry", () => {
    const long = commentForInstance('net', 'eth0', 'c'.repeat(200));
    expect(long).toHaveLength(128);
    expect(long.startsWith(hashForInstance('net', 'eth0', 'c'.repeat(200)))).toBe(true);
    expect(commentForInstance('n"et', 'e"t\\h\x01', 'id')).toMatch(/, net: net, if: et\?h\?, id: id$/);
    expect(cutUtf8('aé', 2)).toBe('a');
    for (const bad of ['a"b', 'a\\b', 'a\nb']) expect(() => nftString(bad)).toThrow('cannot be an nft string');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary', maxLength: 15 }), fc.string({ unit: 'binary' }), (n, i, c) => {
        const comment = commentForInstance(n, i, c);
        expect(() => nftString(comment)).not.toThrow();
        expect(Buffer.byteLength(comment)).toBeLessThanOrEqual(128);
      }),
    );
  });

  it('finds one attachment by its hash prefix and GCs a network by its comment', () => {
    const rules = [
      { chain: 'masq_checks', handle: 1, comment: commentForInstance('unit-test', 'eth0', 'one'), expr: [] },
      { chain: 'masq_checks', handle: 2, comment: commentForInstance('unit-test', 'eth0', 'two'), expr: [] },
      { chain: 'masq_checks', handle: 3, comment: commentForInstance('alternate', 'net1', 'three'), expr: [] },
      { chain: 'masq_checks', handle: 4, expr: [] },
    ];
    expect(attachmentRules(rules, 'unit-test', 'eth0', 'one').map((r) => r.handle)).toEqual([1]);
    expect(attachmentRules(rules, 'unit-test', 'eth1', 'one')).toEqual([]);
    expect(staleNetworkRules(rules, 'unit-test', [{ containerId: 'two', ifName: 'eth0' }]).map((r) => r.handle)).toEqual([1]);
    expect(staleNetworkRules(rules, 'unit-test', [{ containerId: 'one', ifName: 'eth1' }]).map((r) => r.handle)).toEqual([1, 2]);
  });
});

// `nft -j list table inet flatnet` as nft 1.0.6 prints it, for an IPv4 state.
const listing = (nomasq: unknown[], rules: object[] = [egressRule4(10)], prio = 100) =>
  parseNftJson(
    JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { table: { family: 'inet', name: 'flatnet', handle: 1 } },
        { set: { family: 'inet', name: 'pods_v4', table: 'flatnet', type: 'ipv4_addr', handle: 2, flags: ['interval'], elem: [{ prefix: { addr: '10.244.1.0', len: 24 } }] } },
        { set: { family: 'inet', name: 'nomasq_v4', table: 'flatnet', type: 'ipv4_addr', handle: 3, flags: ['interval'], elem: nomasq } },
        { chain: { family: 'inet', table: 'flatnet', name: 'postrouting', handle: 4, type: 'nat', hook: 'postrouting', prio, policy: 'accept' } },
        ...rules.map((rule) => ({ rule })),
      ],
    }),
  );
function egressRule4(handle: number, comment = 'flatnet egress IPv4') {
  return {
    family: 'inet',
    table: 'flatnet',
    chain: 'postrouting',
    handle,
    comment,
    expr: [
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@pods_v4' } },
      { match: { op: '!=', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '@nomasq_v4' } },
      { masquerade: null },
    ],
  };
}

describe("the agent's egress table", () => {
  const pods = [cidr('10.244.1.0/24')];
  const noMasq = [cidr('10.244.0.0/16'), cidr('10.9.0.0/25'), cidr('10.9.0.128/25'), cidr('192.0.2.7/32')];
  // What nft prints for noMasq: sorted, a single address bare, possibly merged into a range.
  const printed = [{ range: ['10.9.0.0', '10.9.0.255'] }, { prefix: { addr: '10.244.0.0', len: 16 } }, '192.0.2.7'];

  it('writes nothing when the table holds what is wanted, however nft prints the set', () => {
    expect(egressScript(listing(printed), 4, pods, noMasq)).toBeUndefined();
  });

  it('builds the whole family when the table is absent', () => {
    expect(egressScript(undefined, 4, pods, noMasq)!.split('\n')).toEqual([
      `add table inet flatnet { comment "flatnet agent: masquerade of this node's pods' traffic leaving the cluster" ; }`,
      'add chain inet flatnet postrouting { type nat hook postrouting priority 100 ; policy accept ; }',
      'add set inet flatnet pods_v4 { type ipv4_addr ; flags interval ; }',
      'flush set inet flatnet pods_v4',
      'add element inet flatnet pods_v4 { 10.244.1.0/24 }',
      'add set inet flatnet nomasq_v4 { type ipv4_addr ; flags interval ; }',
      'flush set inet flatnet nomasq_v4',
      'add element inet flatnet nomasq_v4 { 10.244.0.0/16, 10.9.0.0/25, 10.9.0.128/25, 192.0.2.7/32 }',
      'add rule inet flatnet postrouting ip saddr @pods_v4 ip daddr != @nomasq_v4 masquerade comment "flatnet egress IPv4"',
      '',
    ]);
  });

  it('rewrites only a set that differs, and keeps the rule', () => {
    const script = egressScript(listing(printed), 4, pods, [...noMasq, cidr('198.51.100.0/24')])!;
    expect(script).toContain('flush set inet flatnet nomasq_v4');
    expect(script).not.toContain('pods_v4');
    expect(script).not.toContain('add rule');
  });

  it("drops rules that are not ours, re-adds a changed one, leaves the other family's, rebuilds a foreign base chain", () => {
    const rules = [egressRule4(10, 'edited'), { ...egressRule4(11, 'flatnet egress IPv6'), expr: [] }, { ...egressRule4(12), expr: [{ accept: null }] }];
    const script = egressScript(listing(printed, rules), 4, pods, noMasq)!;
    expect(script).toContain('delete rule inet flatnet postrouting handle 10');
    expect(script).toContain('delete rule inet flatnet postrouting handle 12');
    expect(script).not.toContain('handle 11');
    expect(script).toContain('add rule inet flatnet postrouting ip saddr @pods_v4');
    const rebuilt = egressScript(listing(printed, [egressRule4(10)], 0), 4, pods, noMasq)!;
    expect(rebuilt.split('\n')[0]).toBe('delete table inet flatnet');
    expect(rebuilt).toContain('add rule inet flatnet postrouting');
  });

  it('shows what is masqueraded, merged into CIDRs where they are', () => {
    expect(egressState(listing(printed))).toEqual([{ family: 4, from: ['10.244.1.0/24'], except: ['10.9.0.0/24', '10.244.0.0/16', '192.0.2.7/32'], active: true }]);
  });

  it('compares sets as address ranges: any split of a range into prefixes is the same set', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 0, max: 8 })), { maxLength: 12 }), (raw) => {
        const list = raw.map(([v, bits]): [bigint, bigint] => {
          const lo = BigInt(v) & ~((1n << BigInt(bits)) - 1n);
          return [lo, lo + (1n << BigInt(bits)) - 1n];
        });
        const halves = list.flatMap(([lo, hi]): Array<[bigint, bigint]> => (hi > lo ? [[lo, lo + (hi - lo) / 2n], [lo + (hi - lo) / 2n + 1n, hi]] : [[lo, hi]]));
        expect(mergeRanges(halves)).toEqual(mergeRanges(list));
      }),
    );
  });
});

describe('backend choice', () => {
  it.each([
    [true, true, 'iptables'],
    [true, false, 'iptables'],
    [false, true, 'nftables'],
    [false, false, 'iptables'],
  ] as const)('iptables usable %s, nftables usable %s: %s (as the Go plugin)', (ipt, nft, want) => {
    expect(defaultBackend({ iptables: () => ipt, nftables: () => nft })).toBe(want);
  });

  it('reads ipMasqBackend as the Go plugin does: iptables, nftables, or unset', () => {
    const base = { cniVersion: '1.0.0', name: 'n', type: 'flatnet' };
    expect(parseBridgeConf(base, '').ipMasqBackend).toBe('auto');
    expect(parseBridgeConf({ ...base, ipMasqBackend: 'nftables' }, '').ipMasqBackend).toBe('nftables');
    expect(parseBridgeConf({ ...base, ipMasqBackend: 'iptables' }, '').ipMasqBackend).toBe('iptables');
    expect(() => parseBridgeConf({ ...base, ipMasqBackend: 'auto' }, '')).toThrow('ipMasqBackend must be "iptables" or "nftables"');
  });
});
