// e2e on nodes without iptables: the agents, libcni-driver and the plugins it
// execs all run in a view of the machine with no iptables binaries
// (scripts/no-iptables.mjs). 2 dual-stack nodes x 2 pods: pods get addresses,
// cross-node traffic is not NATed, egress is, through the agent's nftables
// table, which a resync leaves untouched and a clean shutdown removes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { libcniDriver } from '../helpers/libcni.ts';
import { ROOT } from '../helpers/plugin.ts';
import { podNetworkChecks } from '../helpers/pod-network.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createCluster } from '../../scripts/cluster.mjs';

const agentArgs = ['--remove-masquerade-on-exit'];

describe.runIf(isRoot())('pod network on nodes without iptables (2 dual-stack nodes x 2 pods)', () => {
  let c: any;
  beforeAll(async () => {
    c = await createCluster({ nodes: 2, libcniDriver: libcniDriver(), dualStack: true, noIptables: true });
    c.writeNodes();
    for (const n of c.nodes) await c.startAgent(n, { args: agentArgs });
    for (const n of c.nodes) for (let i = 1; i <= 2; i++) await c.addPod(n, `p${n.k}${i}`);
  }, 180_000);
  afterAll(async () => {
    await c?.destroy();
  }, 60_000);

  /** A command in node `n` as its agent and plugins see the machine. */
  const onNode = (n: any, argv: string[]) => execa(c.view[0], [...c.view.slice(1), 'ip', 'netns', 'exec', n.ns, ...argv], { reject: false });
  const nftTables = async (n: any) => (await execa('ip', ['netns', 'exec', n.ns, 'nft', 'list', 'tables'])).stdout.trim().split('\n');

  it('the nodes really have no iptables: none of the iptables programs can be found there', async () => {
    const r = await onNode(c.nodes[0], ['sh', '-c', 'for p in iptables iptables-restore iptables-save ip6tables ip6tables-restore iptables-nft iptables-legacy xtables-nft-multi; do command -v $p; done; command -v nft']);
    expect(r.stdout.trim()).toBe('/usr/sbin/nft');
  });

  it('pods got an IPv4 and an IPv6 address', () => {
    expect(c.pods).toHaveLength(4);
    for (const p of c.pods) {
      expect(p.ip.startsWith(`10.244.${p.node.k}.`), p.name).toBe(true);
      expect(p.ip6.startsWith(`fd00:244:0:${p.node.k}::`), p.name).toBe(true);
    }
  });

  podNetworkChecks(() => c);

  it("each agent's egress masquerade is its own nftables table, nothing in iptables", async () => {
    for (const n of c.nodes) {
      expect(await nftTables(n)).toEqual(['table inet flatnet']);
      const t = (await execa('ip', ['netns', 'exec', n.ns, 'nft', 'list', 'table', 'inet', 'flatnet'])).stdout;
      expect(t).toContain(`elements = { ${n.podCIDR} }`);
      expect(t).toContain(`elements = { ${n.podCIDR6} }`);
      expect(t).toContain('ip saddr @pods_v4 ip daddr != @nomasq_v4 masquerade comment "flatnet egress IPv4"');
      expect(t).toContain('ip6 saddr @pods_v6 ip6 daddr != @nomasq_v6 masquerade comment "flatnet egress IPv6"');
    }
  });

  it('a resync with nothing changed writes nothing (nft monitor sees no event across two resyncs)', async () => {
    const n = c.nodes[0];
    const monitor = spawn('ip', ['netns', 'exec', n.ns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let events = '';
    monitor.stdout.on('data', (d) => (events += d));
    await new Promise((r) => setTimeout(r, 4500)); // the agents resync every 2 s
    monitor.kill();
    expect(events).toBe('');
  });

  it('flatnet status shows the nftables egress masquerade', async () => {
    const n = c.nodes[0];
    const r = await onNode(n, [join(ROOT, 'dist', 'bin', 'flatnet'), 'status', '--status-file', n.statusFile]);
    expect(r.stdout).toMatch(new RegExp(`egress    nftables table inet flatnet: IPv4 from ${n.podCIDR} except to .*; IPv6 from ${n.podCIDR6} except to .* \\(nft list table inet flatnet\\)`));
    expect(r.stdout).not.toContain('iptables');
  });

  it('a clean shutdown with --remove-masquerade-on-exit removes the table; the next agent puts it back', async () => {
    const n = c.nodes[1];
    await c.stopAgent(n);
    expect(await nftTables(n)).toEqual(['']);
    await c.startAgent(n, { args: agentArgs });
    await c.waitFor('the egress table', async () => (await nftTables(n)).includes('table inet flatnet'));
  });
});
