// Masquerade in iptables. Per pod (`ipMasq`): the Go bridge plugin's layout
// (chain CNI-<sha512(net+id)[:24]>, comment `name: "<net>" id: "<id>"`), so
// rules made by either plugin are found and removed by the other. Per node
// (the agent's egress): chain FLATNET-MASQ, jumped to from POSTROUTING for each
// pod CIDR. Every change is one iptables-restore per family; the rule text is
// printed here from typed addresses and validated names only.
import { createHash } from 'node:crypto';
import { type Cidr, type Family, formatCidr, formatIp, networkOf } from '../net/cidr.ts';
import { ExecError, run, start } from './exec.ts';
import type { EgressMasq, PodMasq, PodMasqAttachment } from './kernel.ts';

export const chainName = (net: string, id: string): string => `CNI-${createHash('sha512').update(net + id).digest('hex').slice(0, 24)}`;

// iptables keeps at most 255 bytes of a comment. Network names and container
// IDs are [A-Za-z0-9_.-] (validated at the boundary), so bytes = characters.
const MAX_COMMENT = 255;
const commentPrefix = (net: string): string => `name: ${JSON.stringify(net)} id: "`;
export const ruleComment = (net: string, id: string): string => `${commentPrefix(net)}${id}"`.slice(0, MAX_COMMENT);
const quoted = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;

// restore is the whole argv: --noflush keeps everything else in the table, -w waits for the xtables lock.
export const iptablesTools = (f: Family): { save: string; restore: string[]; mcast: string } =>
  f === 4
    ? { save: 'iptables-save', restore: ['iptables-restore', '--noflush', '-w'], mcast: '224.0.0.0/4' }
    : { save: 'ip6tables-save', restore: ['ip6tables-restore', '--noflush', '-w'], mcast: 'ff00::/8' };

// The POSTROUTING jump of one address, without -A/-D: setup appends exactly
// what the exact teardown deletes.
const jumpSpec = (net: string, id: string, a: Cidr): string => `POSTROUTING -s ${formatIp(a)}/${a.family === 4 ? 32 : 128} -m comment --comment ${quoted(ruleComment(net, id))} -j ${chainName(net, id)}`;

/** iptables-restore input that masquerades `addresses` (one family) leaving their subnets. */
export function masqRules(net: string, id: string, addresses: Cidr[], family: Family): string {
  const chain = chainName(net, id);
  const c = `-m comment --comment ${quoted(ruleComment(net, id))}`;
  const lines = ['*nat', `:${chain} - [0:0]`];
  for (const a of addresses) lines.push(`-A ${chain} -d ${formatCidr(networkOf(a))} ${c} -j ACCEPT`);
  lines.push(`-A ${chain} ! -d ${iptablesTools(family).mcast} ${c} -j MASQUERADE`);
  for (const a of addresses) lines.push(`-A ${jumpSpec(net, id, a)}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** iptables-restore input that removes exactly what masqRules made. */
export function exactTeardownRules(net: string, id: string, addresses: Cidr[]): string {
  const chain = chainName(net, id);
  return ['*nat', ...addresses.map((a) => `-D ${jumpSpec(net, id, a)}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
}

/** iptables-restore input deleting the given chains and every jump to them, from an iptables-save dump. */
export function teardownRules(saved: string, chains: Set<string>): string | undefined {
  const lines = ['*nat'];
  let inNat = false;
  const present = new Set<string>();
  for (const l of saved.split('\n')) {
    if (l.startsWith('*')) inNat = l === '*nat';
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(l);
    if (decl && chains.has(decl[1]!)) present.add(decl[1]!);
    const jump = /^-A (\S+) (.*) -j (\S+)$/.exec(l);
    if (jump && chains.has(jump[3]!) && !chains.has(jump[1]!)) lines.push(`-D ${jump[1]} ${jump[2]} -j ${jump[3]}`);
  }
  if (present.size === 0 && lines.length === 1) return undefined;
  for (const ch of present) lines.push(`-F ${ch}`);
  for (const ch of present) lines.push(`-X ${ch}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * Chains of network `net` in an iptables-save dump: CNI- chains whose rules
 * carry the network's comment. The container ID is not read back (a long one
 * is cut to iptables' 255 bytes); who owns a chain is told by its hashed name.
 */
export function networkChains(saved: string, net: string): Set<string> {
  const prefix = commentPrefix(net);
  const chains = new Set<string>();
  for (const l of saved.split('\n')) {
    const m = /^-A (CNI-[0-9a-f]{24}) .*--comment "((?:[^"\\]|\\.)*)"/.exec(l);
    if (!m) continue;
    const comment = m[2]!.replace(/\\(.)/g, '$1');
    // A comment cut inside the prefix (a very long network name) still names the network as far as it goes.
    if (comment.startsWith(prefix) || (comment.length === MAX_COMMENT && prefix.startsWith(comment))) chains.add(m[1]!);
  }
  return chains;
}

function restoreOk(family: Family, input: string): void {
  const argv = iptablesTools(family).restore;
  const r = run(argv, input);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

/** Reads each family's nat table and removes the chains `pick` chooses. */
function teardownPicked(pick: (saved: string) => Set<string>, families: readonly Family[] = [4, 6]): void {
  for (const family of families) {
    const saved = run([iptablesTools(family).save, '-t', 'nat']);
    if (saved.exitCode !== 0) continue; // no such table or tool: nothing of ours can be there
    const input = teardownRules(saved.stdout, pick(saved.stdout));
    if (input) restoreOk(family, input);
  }
}

const byFamily = (addresses: Cidr[]): Array<[Family, Cidr[]]> =>
  ([4, 6] as const).flatMap((f) => {
    const mine = addresses.filter((a) => a.family === f);
    return mine.length ? [[f, mine] as [Family, Cidr[]]] : [];
  });

export const iptablesPodMasq: PodMasq = {
  /** Both families' iptables-restore start at once; they run while the caller configures the pod. */
  async setup(a: PodMasqAttachment): Promise<void> {
    const runs = byFamily(a.addresses).map(([family, mine]) => {
      const argv = iptablesTools(family).restore;
      return start(argv, masqRules(a.network, a.containerId, mine, family)).then((r) => ({ argv, r }));
    });
    for (const { argv, r } of await Promise.all(runs)) if (r.exitCode !== 0) throw new ExecError(argv, r);
  },
  /**
   * With the addresses (from prevResult) one iptables-restore per family
   * removes exactly what setup made; when that fails (rules edited) or there
   * are none, the nat table is read and everything jumping to the chain goes.
   */
  teardown(a): void {
    if (a.addresses?.length) {
      const exact = byFamily(a.addresses).every(([family, mine]) => run(iptablesTools(family).restore, exactTeardownRules(a.network, a.containerId, mine)).exitCode === 0);
      if (exact) return;
    }
    const chain = chainName(a.network, a.containerId);
    teardownPicked(() => new Set([chain]));
  },
  gc(network, valid): void {
    const keep = new Set(valid.map((v) => chainName(network, v.containerId)));
    teardownPicked((saved) => new Set([...networkChains(saved, network)].filter((c) => !keep.has(c))));
  },
};

/**
 * DEL of an attachment whose rules are most likely not in iptables (it was
 * set up with nftables): one iptables-save per family of its addresses, and a
 * restore only where its chain is found, instead of a restore that fails first.
 */
export function iptablesTeardownByReading(a: Omit<PodMasqAttachment, 'addresses'> & { addresses?: Cidr[] }): void {
  const chain = chainName(a.network, a.containerId);
  teardownPicked(() => new Set([chain]), a.addresses?.length ? byFamily(a.addresses).map(([f]) => f) : [4, 6]);
}

export const EGRESS_CHAIN = 'FLATNET-MASQ';

/**
 * iptables-restore input for egress masquerade: traffic from this node's pod
 * CIDRs is masqueraded unless it goes to a pod CIDR, the cluster CIDR or a
 * node IP (no NAT pod<->pod, pod<->node). The chain is rebuilt atomically;
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
