// e2e, dual-stack: 3 namespace-nodes with an IPv4 and an IPv6 InternalIP and
// one podCIDR per family, 2 pods each through libcni-driver. Every pod reaches
// every other in both families without NAT, egress is masqueraded per family,
// the bridge's IPv6 addresses are permanent and never tentative, and a pod is
// reachable over IPv6 at once (ADD to first IPv6 packet is measured and
// printed, never asserted).
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { libcniDriver } from '../helpers/libcni.ts';
import { ROOT } from '../helpers/plugin.ts';
import { podNetworkChecks } from '../helpers/pod-network.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster } from '../../scripts/cluster.mjs';

type Addr6 = { local: string; scope: string; nodad?: boolean; tentative?: boolean; temporary?: boolean; dynamic?: boolean; valid_life_time: number };
const addrs6 = async (ns: string, dev: string): Promise<Addr6[]> => JSON.parse((await execa('ip', ['-n', ns, '-j', '-6', 'addr', 'show', 'dev', dev])).stdout)[0].addr_info;

/** Pings until the first reply (every 10 ms, 5 s at most); resolves with ms since `t0`, or -1. */
async function firstReply(fromNs: string, ip: string, t0: number): Promise<number> {
  const r = await execa('ip', ['netns', 'exec', fromNs, 'ping', '-c', '1', '-i', '0.01', '-w', '5', ip], { reject: false });
  return r.exitCode === 0 ? Date.now() - t0 : -1;
}

describe.runIf(isRoot())('dual-stack pod network across nodes (3 nodes x 2 pods)', () => {
  let c: any;
  const firstV6: Array<{ node: string; addMs: number; firstPacketMs: number }> = [];
  const atAdd: Array<{ pod: string; bridge: Addr6[]; pod6: Addr6[] }> = [];
  beforeAll(async () => {
    c = await createCluster({ nodes: 3, libcniDriver: libcniDriver(), dualStack: true });
    c.writeNodes();
    for (const n of c.nodes) await c.startAgent(n);
    const probe = await c.addPod(c.nodes[0], 'p11');
    for (const n of c.nodes) {
      for (let i = 1; i <= 2; i++) {
        if (n.k === 1 && i === 1) continue;
        const t0 = Date.now();
        const pod = await c.addPod(n, `p${n.k}${i}`);
        const addMs = Date.now() - t0;
        atAdd.push({ pod: pod.name, bridge: await addrs6(n.ns, 'cni0'), pod6: await addrs6(pod.ns, 'eth0') });
        // The first pod on a fresh bridge, reached from another node: the case DAD would delay.
        if (i === 1) firstV6.push({ node: n.name, addMs, firstPacketMs: await firstReply(probe.ns, pod.ip6, t0) });
      }
    }
    console.log(`ADD -> first IPv6 packet from another node, first pod on a node: ${JSON.stringify(firstV6)}`);
  }, 180_000);
  afterAll(async () => {
    await c?.destroy();
  }, 60_000);

  podNetworkChecks(() => c);

  it('the first pod on a node answers over IPv6 from another node right after ADD', () => {
    expect(firstV6).toHaveLength(2);
    for (const f of firstV6) expect(f.firstPacketMs, JSON.stringify(f)).toBeGreaterThan(0);
  });

  it("the bridge's IPv6 gateway and link-local address are permanent and without DAD, the pod's address too, as soon as ADD returns", () => {
    for (const { pod, bridge, pod6 } of atAdd) {
      const gw = bridge.filter((a) => a.scope === 'global');
      expect(gw.map((a) => a.local), pod).toHaveLength(1);
      expect(gw[0], pod).toMatchObject({ nodad: true, valid_life_time: 4294967295 });
      const ll = bridge.filter((a) => a.scope === 'link');
      expect(ll, pod).toHaveLength(1);
      expect(ll[0]!.nodad, pod).toBe(true);
      const own = pod6.find((a) => a.scope === 'global')!;
      expect(own, pod).toMatchObject({ nodad: true, valid_life_time: 4294967295 });
      for (const a of [...bridge, own]) expect([a.tentative, a.temporary, a.dynamic], `${pod} ${a.local}`).toEqual([undefined, undefined, undefined]);
    }
  });

  it('the agent masquerades egress per family: one chain per family, for that family\'s podCIDR', async () => {
    const n = c.nodes[0];
    const v4 = (await execa('ip', ['netns', 'exec', n.ns, 'iptables-save', '-t', 'nat'])).stdout;
    const v6 = (await execa('ip', ['netns', 'exec', n.ns, 'ip6tables-save', '-t', 'nat'])).stdout;
    expect(v4).toContain(`-A POSTROUTING -s ${n.podCIDR} -j FLATNET-MASQ`);
    expect(v6).toContain(`-A POSTROUTING -s ${n.podCIDR6} -j FLATNET-MASQ`);
    expect(v6).toContain('-A FLATNET-MASQ -d fd00:244::/48 -j RETURN');
  });

  it('flatnet status shows both podCIDRs, the peers of both families and the egress masquerade', async () => {
    const n = c.nodes[0];
    const r = await execa('ip', ['netns', 'exec', n.ns, join(ROOT, 'dist', 'bin', 'flatnet'), 'status', '--json', '--status-file', n.statusFile]);
    const doc = JSON.parse(r.stdout);
    expect(doc.podCIDRs).toEqual([n.podCIDR, n.podCIDR6]);
    expect(doc.peers.map((p: any) => `${p.node} ${p.podCIDR} ${p.via}`).sort()).toEqual(['node2 10.244.2.0/24 10.200.0.12', 'node2 fd00:244:0:2::/64 fd00:200::12', 'node3 10.244.3.0/24 10.200.0.13', 'node3 fd00:244:0:3::/64 fd00:200::13']);
    const masq = doc.masquerade.find((m: string) => m.startsWith('iptables'));
    expect(masq).toMatch(new RegExp(`^iptables nat chain FLATNET-MASQ: IPv4 from ${n.podCIDR} except to .*; IPv6 from ${n.podCIDR6} except to .*fd00:244::/48`));
    expect(doc.masquerade).toContain('nftables: no table inet flatnet');
  });
});
