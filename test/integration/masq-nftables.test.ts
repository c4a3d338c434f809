// Masquerade in nftables on the real nft, in test namespaces: per-pod rules in
// the Go bridge plugin's layout (checked against the Go plugin's own test
// sequence and against rules written by hand exactly as the Go code writes
// them: Debian's Go plugin is too old to run as a peer), DEL and GC across
// both backends, the backend choice with and without iptables installed, and
// the agent's egress table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteAllNetns, inNs, isRoot, type Netns } from '../helpers/netns.ts';
import { bridgeConf, flatnet } from '../helpers/plugin.ts';
// @ts-expect-error plain .mjs build script
import { buildQuickjs } from '../../scripts/build.mjs';
// @ts-expect-error plain .mjs helper shared with the cluster bed
import { startNoIptables } from '../../scripts/no-iptables.mjs';

const T = 'inet cni_plugins_masquerade';
// What the Go code writes (knftables' text for setupIPMasqNFTablesWithInterface), by hand.
const GO_HEAD = [
  `add table ${T} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
  `add chain ${T} masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
  `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
];
const GO_POSTROUTING = [`add rule ${T} postrouting ip daddr == 224.0.0.0/4  return`, `add rule ${T} postrouting ip6 daddr == ff00::/8  return`, `add rule ${T} postrouting goto masq_checks`];
const goRule = (rule: string, comment: string): string => `add rule ${T} masq_checks ${rule} masquerade comment "${comment}"`;
// Comments from the Go plugin's test (the reference vectors).
const ONE = '6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one';
const TWO = '6fd94d501e58f0aa-d750b2c8f0f25d5f, net: unit-test, if: eth0, id: two';
const THREE = '6fd94d501e58f0aa-a4d4adb82b669cfe, net: unit-test, if: eth0, id: three';
const FOUR = '6fd94d501e58f0aa-e766de567ef6c543, net: unit-test, if: eth0, id: four';
const ALT = '82783ef24bdc7036-acb19d111858e348, net: alternate, if: net1, id: three';

interface View {
  prefix: string[];
  stop(): Promise<void>;
}

describe.runIf(isRoot())('masquerade in nftables (real nft, test namespaces)', () => {
  let work: string;
  let driverExe: string;
  let noIptables: View;
  let neither: View;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fnt-nft-'));
    driverExe = join(work, 'masq-driver');
    await buildQuickjs('test/fixtures/masq-driver.ts', driverExe);
    noIptables = await startNoIptables(join(work, 'view1'));
    neither = await startNoIptables(join(work, 'view2'), { alsoHide: ['nft'] });
  }, 120_000);
  afterAll(async () => {
    await deleteAllNetns();
    await noIptables?.stop();
    await neither?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs masquerade operations with flatnet's code (QuickJS build) inside `ns`; one result per op. */
  async function drive(ns: Netns, ops: object[], view: string[] = []): Promise<Array<{ ok: boolean; value?: any; error?: string }>> {
    const r = await execa(view[0] ?? 'ip', [...view.slice(1), ...(view.length ? ['ip'] : []), 'netns', 'exec', ns.name, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', driverExe], { input: ops.map((o) => JSON.stringify(o)).join('\n') });
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  }
  const nftIn = async (ns: Netns, script: string[]): Promise<void> => {
    await execa('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: `${script.join('\n')}\n` });
  };
  const table = async (ns: Netns, t = T): Promise<string> => (await inNs(ns, ['nft', 'list', 'table', ...t.split(' ')])).stdout;
  const rulesJson = async (ns: Netns): Promise<Array<{ handle: number; comment?: string }>> => {
    const r = await inNs(ns, ['nft', '-j', 'list', 'chain', ...T.split(' '), 'masq_checks']);
    return r.exitCode ? [] : JSON.parse(r.stdout).nftables.flatMap((o: any) => (o.rule ? [o.rule] : []));
  };
  /** Go's DEL and GC, by hand: rules of masq_checks whose comment starts with `prefix` (and is not in `keep`) are deleted by handle. */
  async function goDelete(ns: Netns, prefix: string, keep: string[] = []): Promise<number> {
    const doomed = (await rulesJson(ns)).filter((r) => r.comment?.startsWith(prefix) && !keep.includes(r.comment));
    if (doomed.length) await nftIn(ns, doomed.map((r) => `delete rule ${T} masq_checks handle ${r.handle}`));
    return doomed.length;
  }
  /** The state Go's fake reports after a step, applied to a fresh namespace, as nft lists it. */
  async function goState(lines: string[]): Promise<string> {
    const ref = await createNetns('goref');
    await nftIn(ref, lines);
    return table(ref);
  }

  describe("the Go plugin's own test sequence (pkg/ip/ipmasq_nftables_linux_test.go) replayed with flatnet's code", () => {
    it('leaves the same state as Go after every step: setups, a setup reusing an address, DEL, GC, GC of everything', async () => {
      const ns = await createNetns('replay');
      const nft = (x: object) => ({ backend: 'nftables', ...x });
      const ut = { network: 'unit-test', ifName: 'eth0' };
      const setups = [
        nft({ op: 'setup', ...ut, containerId: 'one', addresses: ['192.168.1.1/24'] }),
        nft({ op: 'setup', ...ut, containerId: 'two', addresses: ['192.168.1.2/24', '2001:db8::2/64'] }),
        nft({ op: 'setup', ...ut, containerId: 'three', addresses: ['192.168.99.5/24'] }),
        nft({ op: 'setup', network: 'alternate', ifName: 'net1', containerId: 'three', addresses: ['10.0.0.5/24', '10.0.0.6/24', '10.0.1.7/24', '2001:db8::5/64', '2001:db8::6/64', '2001:db8:1::7/64'] }),
      ];
      expect((await drive(ns, setups)).every((r) => r.ok)).toBe(true);
      const twoRules = [goRule('ip saddr == 192.168.1.2 ip daddr != 192.168.1.0/24', TWO), goRule('ip6 saddr == 2001:db8::2 ip6 daddr != 2001:db8::/64', TWO), goRule('ip saddr == 192.168.99.5 ip daddr != 192.168.99.0/24', THREE)];
      const altRules = [
        goRule('ip saddr == 10.0.0.5 ip daddr != 10.0.0.0/24', ALT),
        goRule('ip saddr == 10.0.0.6 ip daddr != 10.0.0.0/24', ALT),
        goRule('ip saddr == 10.0.1.7 ip daddr != 10.0.1.0/24', ALT),
        goRule('ip6 saddr == 2001:db8::5 ip6 daddr != 2001:db8::/64', ALT),
        goRule('ip6 saddr == 2001:db8::6 ip6 daddr != 2001:db8::/64', ALT),
        goRule('ip6 saddr == 2001:db8:1::7 ip6 daddr != 2001:db8:1::/64', ALT),
      ];
      const oneRule = goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', ONE);
      expect(await table(ns)).toBe(await goState([...GO_HEAD, oneRule, ...twoRules, ...altRules, ...GO_POSTROUTING]));

      // "four" reuses one's address before one is deleted; DEL of one must leave four's rule.
      const step2 = await drive(ns, [nft({ op: 'setup', ...ut, containerId: 'four', addresses: ['192.168.1.1/24'] }), nft({ op: 'teardown', ...ut, containerId: 'one', addresses: ['192.168.1.1/24'] })]);
      expect(step2.every((r) => r.ok)).toBe(true);
      const fourRule = goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', FOUR);
      expect(await table(ns)).toBe(await goState([...GO_HEAD, ...twoRules, ...altRules, fourRule, ...GO_POSTROUTING]));

      const step3 = await drive(ns, [
        nft({ op: 'gc', network: 'unit-test', valid: [{ ifName: 'eth0', containerId: 'two' }, { ifName: 'eth0', containerId: 'three' }, { ifName: 'eth0', containerId: 'one' }] }),
        nft({ op: 'gc', network: 'alternate', valid: [{ ifName: 'net1', containerId: 'three' }] }),
      ]);
      expect(step3.every((r) => r.ok)).toBe(true);
      expect(await table(ns)).toBe(await goState([...GO_HEAD, ...twoRules, ...altRules, ...GO_POSTROUTING]));

      expect((await drive(ns, [nft({ op: 'gc', network: 'unit-test', valid: [] }), nft({ op: 'gc', network: 'alternate', valid: [] })])).every((r) => r.ok)).toBe(true);
      expect(await table(ns)).toBe(await goState([...GO_HEAD, ...GO_POSTROUTING]));
    });
  });

  describe('through the flatnet binary, next to rules written exactly as the Go code writes them', () => {
    const cni = async (node: Netns, conf: object, env: Record<string, string>, view: string[] = []) => {
      const vars = Object.entries({ CNI_IFNAME: 'eth0', CNI_PATH: join(flatnet, '..'), CNI_NETNS: '', ...env }).map(([k, v]) => `${k}=${v}`);
      const argv = [...view, 'ip', 'netns', 'exec', node.name, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...vars, flatnet];
      const r = await execa(argv[0]!, argv.slice(1), { input: JSON.stringify(conf), reject: false });
      return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, json: r.stdout ? JSON.parse(r.stdout) : undefined };
    };
    const conf = (dataDir: string, extra: object = {}) => ({
      ...bridgeConf({ version: '1.1.0', name: 'unit-test', dataDir, subnet: '192.168.1.0/24', ipamExtra: { ranges: [[{ subnet: '192.168.1.0/24', gateway: '192.168.1.254' }]] } }),
      ...extra,
    });

    it("flatnet's ADD makes exactly Go's rules, and Go's DEL (by the reference prefix) finds and removes all of them", async () => {
      const node = await createNetns('node');
      const pod = await createNetns('pod');
      const add = await cni(node, conf(join(work, 'd1'), { ipMasqBackend: 'nftables' }), { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'one', CNI_NETNS: pod.path });
      expect(add.exitCode, add.stdout + add.stderr).toBe(0);
      expect(add.json.ips[0].address).toBe('192.168.1.1/24');
      expect(await table(node)).toBe(await goState([...GO_HEAD, ...GO_POSTROUTING, goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', ONE)]));
      // No iptables rules were made: nftables was asked for.
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).not.toContain('CNI-');
      // Go's GC keeps it while it is valid, then Go's DEL removes it.
      expect(await goDelete(node, '6fd94d501e58f0aa', [ONE])).toBe(0);
      expect(await goDelete(node, '6fd94d501e58f0aa-287fc69eff0574a2')).toBe(1);
      expect(await rulesJson(node)).toEqual([]);
      // flatnet's DEL afterwards finds nothing and succeeds.
      const del = await cni(node, conf(join(work, 'd1'), { ipMasqBackend: 'nftables' }), { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'one', CNI_NETNS: pod.path });
      expect(del.exitCode, del.stdout).toBe(0);
    });

    it("flatnet's DEL removes rules the Go code made (pod gone, no prevResult, backend unset); other attachments' stay", async () => {
      const node = await createNetns('node');
      await nftIn(node, [...GO_HEAD, 'flush chain inet cni_plugins_masquerade postrouting', ...GO_POSTROUTING, goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', ONE), goRule('ip6 saddr == 2001:db8::1 ip6 daddr != 2001:db8::/64', ONE), goRule('ip saddr == 192.168.1.2 ip daddr != 192.168.1.0/24', TWO)]);
      const del = await cni(node, conf(join(work, 'd2')), { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'one' });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect((await rulesJson(node)).map((r) => r.comment)).toEqual([TWO]);
    });

    it("flatnet's GC removes stale rules the Go code made, keeps valid ones and other networks'", async () => {
      const node = await createNetns('node');
      await nftIn(node, [...GO_HEAD, ...GO_POSTROUTING, goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', ONE), goRule('ip saddr == 192.168.1.2 ip daddr != 192.168.1.0/24', TWO), goRule('ip saddr == 192.168.99.5 ip daddr != 192.168.99.0/24', THREE), goRule('ip saddr == 10.0.0.5 ip daddr != 10.0.0.0/24', ALT)]);
      const gc = await cni(node, { ...conf(join(work, 'd3')), 'cni.dev/valid-attachments': [{ containerID: 'two', ifname: 'eth0' }] }, { CNI_COMMAND: 'GC' });
      expect(gc.exitCode, gc.stdout + gc.stderr).toBe(0);
      expect((await rulesJson(node)).map((r) => r.comment)).toEqual([TWO, ALT]);
    });

    it('DEL cleans both backends: an iptables chain and nftables rules of one attachment both go', async () => {
      const node = await createNetns('node');
      const pod = await createNetns('pod');
      const ipt = conf(join(work, 'd4'), { ipMasqBackend: 'iptables' });
      const add = await cni(node, ipt, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'one', CNI_NETNS: pod.path });
      expect(add.exitCode, add.stdout).toBe(0);
      await nftIn(node, [...GO_HEAD, ...GO_POSTROUTING, goRule('ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24', ONE)]);
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).toContain('CNI-');
      const del = await cni(node, { ...conf(join(work, 'd4'), { ipMasqBackend: 'nftables' }), prevResult: add.json }, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'one', CNI_NETNS: pod.path });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).not.toContain('CNI-');
      expect(await rulesJson(node)).toEqual([]);
    });

    it('with ipMasqBackend unset: iptables where it is installed, nftables where it is not, an error naming both where neither is', async () => {
      const node = await createNetns('node');
      const views: Array<[string, string[]]> = [
        ['iptables', []],
        ['no iptables', noIptables.prefix],
        ['neither', neither.prefix],
      ];
      const detected = [];
      for (const [, view] of views) detected.push((await drive(node, [{ op: 'detect' }], view))[0]!.value);
      expect(detected).toEqual([
        { iptables: true, nftables: true, auto: 'iptables' },
        { iptables: false, nftables: true, auto: 'nftables' },
        { iptables: false, nftables: false, auto: 'iptables' },
      ]);

      const auto = conf(join(work, 'd5'));
      const [p1, p2, p3] = [await createNetns('p1'), await createNetns('p2'), await createNetns('p3')];
      const a1 = await cni(node, auto, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: p1.path });
      expect(a1.exitCode, a1.stdout).toBe(0);
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).toContain('id: \\"c1\\"');
      expect(await rulesJson(node)).toEqual([]);

      const a2 = await cni(node, auto, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c2', CNI_NETNS: p2.path }, noIptables.prefix);
      expect(a2.exitCode, a2.stdout + a2.stderr).toBe(0);
      expect((await rulesJson(node)).map((r) => r.comment)).toEqual([expect.stringContaining('id: c2')]);
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).not.toContain('id: \\"c2\\"');

      const a3 = await cni(node, auto, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c3', CNI_NETNS: p3.path }, neither.prefix);
      expect(a3.exitCode).not.toBe(0);
      expect(a3.json.msg).toMatch(/neither masquerade backend works: iptables: .*nftables: /);
      expect((await execa('ip', ['-n', p3.name, '-j', 'link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);

      // DEL on the node without iptables: the iptables side is skipped, not an error.
      const d2 = await cni(node, { ...auto, prevResult: a2.json }, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c2', CNI_NETNS: p2.path }, noIptables.prefix);
      expect(d2.exitCode, d2.stdout + d2.stderr).toBe(0);
      expect(await rulesJson(node)).toEqual([]);
      const d1 = await cni(node, { ...auto, prevResult: a1.json }, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_NETNS: p1.path });
      expect(d1.exitCode, d1.stdout + d1.stderr).toBe(0);
      expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).not.toContain('CNI-');
    });
  });

  describe("the agent's egress table (inet flatnet)", () => {
    const sync = (family: 4 | 6, pods: string[], noMasq: string[]) => ({ op: 'egress-sync', backend: 'nftables', family, pods, noMasq });
    const handles = async (ns: Netns) => JSON.parse((await inNs(ns, ['nft', '-j', '-a', 'list', 'table', 'inet', 'flatnet'])).stdout).nftables.flatMap((o: any) => (o.rule ? [`${o.rule.comment}@${o.rule.handle}`] : []));

    it('writes once, then nothing while nothing changes; a change rewrites only what differs', async () => {
      const ns = await createNetns('egress');
      const v4 = sync(4, ['10.244.1.0/24'], ['10.244.0.0/16', '10.200.0.0/24', '10.9.0.0/25', '10.9.0.128/25']);
      const v6 = sync(6, ['fd00:244:0:1::/64'], ['fd00:244::/48', 'fd00:200::/64']);
      expect((await drive(ns, [v4, v6, v4, v6])).map((r) => r.value)).toEqual([true, true, false, false]);
      const before = await handles(ns);
      expect(before).toEqual([expect.stringMatching(/^flatnet egress IPv4@\d+$/), expect.stringMatching(/^flatnet egress IPv6@\d+$/)]);
      const listing = await table(ns, 'inet flatnet');
      expect(listing).toContain('ip saddr @pods_v4 ip daddr != @nomasq_v4 masquerade comment "flatnet egress IPv4"');
      expect(listing).toContain('ip6 saddr @pods_v6 ip6 daddr != @nomasq_v6 masquerade comment "flatnet egress IPv6"');
      // A new node IP outside the node network: only the set changes, the rules keep their handles.
      const changed = sync(4, ['10.244.1.0/24'], ['10.244.0.0/16', '10.200.0.0/24', '10.9.0.0/25', '10.9.0.128/25', '192.0.2.7/32']);
      expect((await drive(ns, [changed, changed])).map((r) => r.value)).toEqual([true, false]);
      expect(await handles(ns)).toEqual(before);
      expect(await table(ns, 'inet flatnet')).toContain('192.0.2.7');
      expect((await drive(ns, [{ op: 'egress-describe', backend: 'nftables' }]))[0]!.value).toBe(
        'nftables table inet flatnet: IPv4 from 10.244.1.0/24 except to 10.9.0.0/24, 10.200.0.0/24, 10.244.0.0/16, 192.0.2.7/32; IPv6 from fd00:244:0:1::/64 except to fd00:200::/64, fd00:244::/48 (nft list table inet flatnet)',
      );
    });

    it('repairs what was changed by hand, and remove() takes the whole table away', async () => {
      const ns = await createNetns('egress2');
      const v4 = sync(4, ['10.244.1.0/24'], ['10.244.0.0/16']);
      const v6 = sync(6, ['fd00:244:0:1::/64'], ['fd00:244::/48']);
      await drive(ns, [v4, v6]);
      const [r4] = (await handles(ns)) as string[];
      await execa('ip', ['netns', 'exec', ns.name, 'nft', 'delete', 'rule', 'inet', 'flatnet', 'postrouting', 'handle', r4!.split('@')[1]!]);
      await execa('ip', ['netns', 'exec', ns.name, 'nft', 'add', 'rule', 'inet', 'flatnet', 'postrouting', 'accept']);
      expect((await drive(ns, [v4, v4]))).toEqual([{ ok: true, value: true }, { ok: true, value: false }]);
      expect((await handles(ns)).map((h: string) => h.split('@')[0])).toEqual(['flatnet egress IPv6', 'flatnet egress IPv4']);
      // A base chain that is not ours (another priority): the table is rebuilt, and the other family comes back at its sync.
      await execa('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: 'delete table inet flatnet\nadd table inet flatnet\nadd chain inet flatnet postrouting { type nat hook postrouting priority 50 ; }\n' });
      expect((await drive(ns, [v4, v6, v4, v6])).map((r) => r.value)).toEqual([true, true, false, false]);
      expect(await table(ns, 'inet flatnet')).toContain('priority srcnat');
      expect((await drive(ns, [{ op: 'egress-remove', backend: 'nftables' }, { op: 'egress-remove', backend: 'nftables' }])).every((r) => r.ok)).toBe(true);
      expect((await inNs(ns, ['nft', 'list', 'table', 'inet', 'flatnet'])).exitCode).not.toBe(0);
    });
  });
});
