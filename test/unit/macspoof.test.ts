// macspoofchk's nftables commands, pure: the Go layout (pkg/link/spoofcheck.go)
// as JSON, what a teardown removes from a listing, and what CHECK calls broken.
import { describe, expect, it } from 'vitest';
import type { IfName, Mac } from '../../src/net/names.ts';
import type { MacSpoofAttachment } from '../../src/sys/kernel.ts';
import { refIdOf, spoofProblem, spoofSetupCommands, spoofTeardownCommands } from '../../src/sys/macspoof-nftables.ts';
import { parseNftJson } from '../../src/sys/nft.ts';

const a: MacSpoofAttachment = { refId: refIdOf('c1', 'eth0'), hostVeth: 'veth1234' as IfName, mac: '02:00:00:00:00:42' as Mac };

// What `nft -j list table bridge nat` prints after Go 1.1.1's ADD (its own output, names as in `a`).
const GO_LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'bridge', name: 'nat', handle: 1 } },
    { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', handle: 1, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } },
    { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0', handle: 2 } },
    { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0-mac', handle: 3 } },
    { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4, comment: 'macspoofchk-c1-eth0', expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'veth1234' } }, { jump: { target: 'cni-br-iface-c1-eth0' } }] } },
    { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 9, comment: 'macspoofchk-c2-eth0', expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'veth9999' } }, { jump: { target: 'cni-br-iface-c2-eth0' } }] } },
    { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-c1-eth0', handle: 5, comment: 'macspoofchk-c1-eth0', expr: [{ jump: { target: 'cni-br-iface-c1-eth0-mac' } }] } },
    { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-c1-eth0-mac', handle: 6, comment: 'macspoofchk-c1-eth0', expr: [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: '02:00:00:00:00:42' } }, { return: null }] } },
    { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-c1-eth0-mac', handle: 7, comment: 'macspoofchk-c1-eth0', expr: [{ drop: null }] } },
  ],
});

describe('macspoofchk in nftables', () => {
  it("sets up Go's table, base chain, two chains and four rules, flushing the attachment's chains first", () => {
    const cmds = spoofSetupCommands(a);
    expect(cmds.map((c) => Object.keys(c)[0])).toEqual(['add', 'add', 'add', 'add', 'flush', 'flush', 'add', 'add', 'add', 'add']);
    expect(cmds[1]).toEqual({ add: { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } });
    // The rules as nft lists them back: what Go's listing holds, handles aside.
    const listed = parseNftJson(GO_LISTING).rules.filter((r) => r.comment === 'macspoofchk-c1-eth0').map((r) => ({ chain: r.chain, expr: r.expr, comment: r.comment }));
    const made = cmds.flatMap((c) => ('add' in c && 'rule' in c.add ? [{ chain: c.add.rule.chain, expr: c.add.rule.expr, comment: c.add.rule.comment }] : []));
    expect(JSON.parse(JSON.stringify(made))).toEqual(listed);
  });

  it("tears down only the attachment's PREROUTING rule and its two chains, iface chain first", () => {
    expect(spoofTeardownCommands(parseNftJson(GO_LISTING), a.refId)).toEqual([
      { delete: { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4 } } },
      { flush: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0' } } },
      { flush: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0-mac' } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0' } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0-mac' } } },
    ]);
  });

  it('removes nothing when the table or the attachment is not there', () => {
    expect(spoofTeardownCommands(undefined, a.refId)).toEqual([]);
    expect(spoofTeardownCommands(parseNftJson(GO_LISTING), 'c3-eth0')).toEqual([]);
  });

  it("finds Go's rules sound and names what is wrong otherwise", () => {
    const t = parseNftJson(GO_LISTING);
    expect(spoofProblem(t, a)).toBeUndefined();
    expect(spoofProblem(t, { ...a, mac: '02:00:00:00:00:43' as Mac })).toMatch(/does not pass only 02:00:00:00:00:43/);
    expect(spoofProblem(t, { ...a, hostVeth: 'veth0000' as IfName })).toMatch(/sends veth0000/);
    expect(spoofProblem({ ...t, rules: t.rules.filter((r) => r.handle !== 7) }, a)).toMatch(/does not pass only/);
    expect(spoofProblem(undefined, a)).toMatch(/missing/);
  });
});
