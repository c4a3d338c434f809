// The agent's egress masquerade in iptables: chain FLATNET-MASQ, jumped to
// from POSTROUTING for each of this node's pod CIDRs. Only the agent uses
// it; the CNI binaries never load it.
import { type Cidr, formatCidr } from '../net/cidr.ts';
import { run } from './exec.ts';
import type { EgressMasq } from './kernel.ts';
import { iptablesTools, restoreOk, teardownPicked } from './masq-iptables.ts';

export const EGRESS_CHAIN = 'FLATNET-MASQ';

/**
 * iptables-restore input for egress masquerade: traffic from this node's pod
 * CIDRs is masqueraded unless it goes to one of `noMasq` (what the agent
 * exempts: the cluster CIDR, so no NAT pod<->pod). The chain is rebuilt atomically;
 * jumps from POSTROUTING for other sources (an old podCIDR) are removed.
 * Undefined when nothing differs.
 */
export function egressRestore(saved: string, podCIDRs: Cidr[], noMasq: Cidr[]): string | undefined {
  const pods = podCIDRs.map(formatCidr);
  const chain = [...noMasq.map((d) => `-A ${EGRESS_CHAIN} -d ${formatCidr(d)} -j RETURN`), `-A ${EGRESS_CHAIN} -j MASQUERADE`];
  const savedLines = saved.split('\n');
  const savedChain = savedLines.filter((l) => l.startsWith(`-A ${EGRESS_CHAIN} `));
  const chainSame = savedLines.includes(`:${EGRESS_CHAIN} - [0:0]`) && savedChain.join('\n') === chain.join('\n');
  const jumps: string[] = [];
  const have = new Set<string>();
  for (const l of savedLines) {
    const m = /^-A POSTROUTING -s (\S+) -j FLATNET-MASQ$/.exec(l);
    if (!m) continue;
    if (pods.includes(m[1]!)) have.add(m[1]!);
    else jumps.push(`-D POSTROUTING -s ${m[1]} -j ${EGRESS_CHAIN}`);
  }
  for (const c of pods) if (!have.has(c)) jumps.push(`-A POSTROUTING -s ${c} -j ${EGRESS_CHAIN}`);
  // Nothing differs: no write, so a no-change resync touches no firewall state.
  if (chainSame && jumps.length === 0) return undefined;
  return ['*nat', ...(chainSame ? [] : [`:${EGRESS_CHAIN} - [0:0]`, ...chain]), ...jumps, 'COMMIT', ''].join('\n');
}

export const iptablesEgressMasq: EgressMasq = {
  sync(family, podCIDRs, noMasq): boolean {
    const saved = run([iptablesTools(family).save, '-t', 'nat']);
    const input = egressRestore(saved.exitCode === 0 ? saved.stdout : '', podCIDRs, noMasq);
    if (input) restoreOk(family, input);
    return input !== undefined;
  },
  remove(): void {
    teardownPicked(() => new Set([EGRESS_CHAIN]));
  },
  describe(): string {
    const fams = ([4, 6] as const).flatMap((family) => {
      const saved = run([iptablesTools(family).save, '-t', 'nat']);
      const state = saved.exitCode === 0 ? egressChainState(saved.stdout) : undefined;
      return state ? [`IPv${family} from ${state.from.join(', ') || 'nothing'} except to ${state.except.join(', ') || 'nothing'}`] : [];
    });
    if (fams.length === 0) return `iptables: no chain ${EGRESS_CHAIN}`;
    return `iptables nat chain ${EGRESS_CHAIN}: ${fams.join('; ')} (iptables -t nat -S ${EGRESS_CHAIN}, ip6tables likewise)`;
  },
};

/** The sources jumping to the egress chain and the destinations it exempts, from an iptables-save dump; undefined without the chain. */
export function egressChainState(saved: string): { from: string[]; except: string[] } | undefined {
  const lines = saved.split('\n');
  if (!lines.some((l) => l.startsWith(`:${EGRESS_CHAIN} `))) return undefined;
  const from = lines.flatMap((l) => /^-A POSTROUTING -s (\S+) -j FLATNET-MASQ$/.exec(l)?.[1] ?? []);
  const except = lines.flatMap((l) => /^-A FLATNET-MASQ -d (\S+) -j RETURN$/.exec(l)?.[1] ?? []);
  return { from, except };
}
