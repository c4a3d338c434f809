// The agent's side effects on its node: peer routes (tagged with our routing
// protocol number), egress masquerade, forwarding, local networks.
import { batch, listLinks } from '../sys/ip.ts';
import { ExecError, run, runConcurrently, runOk } from '../sys/exec.ts';
import { iptablesTools } from '../sys/ipmasq.ts';
import { ensureSysctl } from '../sys/sysctl.ts';
import { type Family, formatCidr, networkOf, parseCidr } from '../net/cidr.ts';
import type { KernelNexthop, KernelRoute, LocalNet } from './plan.ts';

/** Our routes of one family: `ip route show proto N`. The listings run concurrently with each other. */
export async function listOwnRoutes(proto: number, family: Family): Promise<KernelRoute[]> {
  const argv = ['ip', '-j', family === 4 ? '-4' : '-6', 'route', 'show', 'proto', String(proto)];
  const r = await runConcurrently(argv, '');
  if (r.exitCode !== 0) throw new ExecError(argv, r);
  const rows = JSON.parse(r.stdout || '[]') as Array<{ dst: string; gateway?: string; nhid?: number }>;
  return rows.map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`, via: r.gateway, nhid: r.nhid }));
}

/** Every nexthop object on the node; undefined when the kernel has none (before 5.3). */
export async function listNexthops(): Promise<KernelNexthop[] | undefined> {
  const r = await runConcurrently(['ip', '-j', 'nexthop', 'show'], '');
  if (r.exitCode !== 0) return undefined;
  const rows = JSON.parse(r.stdout || '[]') as Array<{ id: number; gateway?: string; dev?: string; protocol?: string }>;
  return rows.map((n) => ({ id: n.id, via: n.gateway, dev: n.dev, proto: n.protocol }));
}

export async function applyRouteBatch(lines: string[]): Promise<void> {
  await batch(lines);
}

/** Every global address's network on this node, with its link: where next hops must be, and through which link. */
export async function localNetworks(): Promise<LocalNet[]> {
  const links = await listLinks();
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => ({ net: formatCidr(networkOf(parseCidr(`${a.local}/${a.prefixlen}`)!)), dev: l.ifname })));
}

export function enableForwarding(families: Family[]): void {
  if (families.includes(4)) ensureSysctl('net/ipv4/ip_forward', '1');
  if (families.includes(6)) ensureSysctl('net/ipv6/conf/all/forwarding', '1');
}

export const MASQ_CHAIN = 'FLATNET-MASQ';

/**
 * iptables-restore input for egress masquerade: traffic from this node's pod
 * CIDRs is masqueraded unless it goes to a pod CIDR, the cluster CIDR or a
 * node IP (no NAT pod<->pod, pod<->node). The chain is rebuilt atomically;
 * jumps from POSTROUTING for other sources (an old podCIDR) are removed.
 */
export function masqRestore(saved: string, podCIDRs: string[], noMasq: string[]): string | undefined {
  const chain = [...noMasq.map((d) => `-A ${MASQ_CHAIN} -d ${d} -j RETURN`), `-A ${MASQ_CHAIN} -j MASQUERADE`];
  const savedLines = saved.split('\n');
  const savedChain = savedLines.filter((l) => l.startsWith(`-A ${MASQ_CHAIN} `));
  const chainSame = savedLines.includes(`:${MASQ_CHAIN} - [0:0]`) && savedChain.join('\n') === chain.join('\n');
  const jumps: string[] = [];
  const have = new Set<string>();
  for (const l of savedLines) {
    const m = /^-A POSTROUTING -s (\S+) -j FLATNET-MASQ$/.exec(l);
    if (!m) continue;
    if (podCIDRs.includes(m[1]!)) have.add(m[1]!);
    else jumps.push(`-D POSTROUTING -s ${m[1]} -j ${MASQ_CHAIN}`);
  }
  for (const c of podCIDRs) if (!have.has(c)) jumps.push(`-A POSTROUTING -s ${c} -j ${MASQ_CHAIN}`);
  // Nothing differs: no write, so a no-change resync touches no firewall state.
  if (chainSame && jumps.length === 0) return undefined;
  return ['*nat', ...(chainSame ? [] : [`:${MASQ_CHAIN} - [0:0]`, ...chain]), ...jumps, 'COMMIT', ''].join('\n');
}

export async function syncMasq(family: Family, podCIDRs: string[], noMasq: string[]): Promise<void> {
  const t = iptablesTools(family);
  const saved = await run([t.save, '-t', 'nat']);
  const input = masqRestore(saved.exitCode === 0 ? saved.stdout : '', podCIDRs, noMasq);
  if (input) await runOk(t.restore, input);
}
