// Per-pod masquerade (`ipMasq`) in iptables, in the Go bridge plugin's layout
// (chain CNI-<sha512(net+id)[:24]>, comment `name: "<net>" id: "<id>"`), so
// rules made by either plugin are found and removed by the other. Every change
// is one iptables-restore per family; the rule text is printed here from typed
// addresses and validated names only. The agent's egress chain is in
// masq-iptables-egress.ts.
import { createHash } from 'node:crypto';
import { bitsOf, type Cidr, type Family, formatCidr, formatIp, networkOf } from '../net/cidr.ts';
import { ExecError, run, start } from './exec.ts';
import { awaitXtablesSettled } from './xtables-lock.ts';
import type { PodMasq, PodMasqAttachment, PodMasqTeardown } from './kernel.ts';

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
const hostCidr = (a: Cidr): string => `${formatIp(a)}/${bitsOf(a.family)}`;
/** teardownRules' choice of the jumps from `addresses`. */
const fromAddresses = (addresses: Cidr[]): ((source: string | undefined) => boolean) => {
  const sources = new Set(addresses.map(hostCidr));
  return (src) => src !== undefined && sources.has(src);
};
const jumpSpec = (net: string, id: string, a: Cidr): string => `POSTROUTING -s ${hostCidr(a)} -m comment --comment ${quoted(ruleComment(net, id))} -j ${chainName(net, id)}`;

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

/**
 * iptables-restore input deleting the given chains and every jump to them,
 * from an iptables-save dump. With `drop`, only jumps whose source address
 * ("10.244.1.2/32") it accepts go, and a chain another jump still uses stays:
 * two interfaces of one container share the chain (its name hashes network
 * and ID, as Go's), and removing one must not take the other's masquerade.
 */
export function teardownRules(saved: string, chains: Set<string>, drop?: (source: string | undefined) => boolean): string | undefined {
  const deletes: string[] = [];
  const stillUsed = new Set<string>();
  const present = new Set<string>();
  let inNat = false;
  for (const l of saved.split('\n')) {
    if (l.startsWith('*')) inNat = l === '*nat';
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(l);
    if (decl && chains.has(decl[1]!)) present.add(decl[1]!);
    const jump = /^-A (\S+) (.*) -j (\S+)$/.exec(l);
    if (!jump || !chains.has(jump[3]!) || chains.has(jump[1]!)) continue;
    const src = /(?:^| )-s (\S+)/.exec(jump[2]!)?.[1];
    if (drop && !drop(src)) stillUsed.add(jump[3]!);
    else deletes.push(`-D ${jump[1]} ${jump[2]} -j ${jump[3]}`);
  }
  const gone = [...present].filter((ch) => !stillUsed.has(ch));
  if (deletes.length === 0 && gone.length === 0) return undefined;
  return ['*nat', ...deletes, ...gone.map((ch) => `-F ${ch}`), ...gone.map((ch) => `-X ${ch}`), 'COMMIT', ''].join('\n');
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

export function restoreOk(family: Family, input: string): void {
  const argv = iptablesTools(family).restore;
  const r = run(argv, input);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

// Reads of the nat table a teardown makes before giving up (see teardownPicked).
const TEARDOWN_READS = 10;

/**
 * Reads each family's nat table and removes the chains `pick` chooses (with
 * `drop`, see teardownRules). A DEL or GC running at the same time may delete
 * some of them between our read and our restore, which then fails as a whole
 * ("Chain … does not exist", "does a matching rule exist"): the table is read
 * again and what is left is removed.
 */
export function teardownPicked(pick: (saved: string) => Set<string>, families: readonly Family[] = [4, 6], drop?: (source: string | undefined) => boolean): void {
  for (const family of families) {
    const argv = iptablesTools(family).restore;
    for (let read = 1; ; read++) {
      const saved = run([iptablesTools(family).save, '-t', 'nat']);
      if (saved.exitCode !== 0) break; // no such table or tool: nothing of ours can be there
      const input = teardownRules(saved.stdout, pick(saved.stdout), drop);
      if (!input) break;
      const r = run(argv, input);
      if (r.exitCode === 0) break;
      if (read >= TEARDOWN_READS) throw new ExecError(argv, r);
    }
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
   * With the addresses (from prevResult, or of the ADD being undone) one
   * iptables-restore per family removes exactly what setup made. When that
   * fails (rules edited, or another interface of the container still jumps
   * to the shared chain) the nat table is read: the jumps of these addresses
   * go, and the chain once nothing else uses it. Without them, see
   * teardownByName.
   */
  teardown(a): void {
    awaitXtablesSettled();
    if (!a.addresses) return teardownByName(a);
    const chain = chainName(a.network, a.containerId);
    const families = new Set<Family>();
    for (const [family, mine] of byFamily(a.addresses)) {
      if (run(iptablesTools(family).restore, exactTeardownRules(a.network, a.containerId, mine)).exitCode !== 0) families.add(family);
    }
    // The addresses did not match the rules (or another interface shares the
    // chain). prevResult may be wrong: every jump of the chain goes but those
    // of the container's other live interfaces, when the DEL knows them.
    if (families.size) teardownPicked(() => new Set([chain]), [...families], besides(a, fromAddresses(a.addresses)));
  },
  gc(network, valid): void {
    awaitXtablesSettled();
    const keep = new Set(valid.map((v) => chainName(network, v.containerId)));
    teardownPicked((saved) => new Set([...networkChains(saved, network)].filter((c) => !keep.has(c))));
  },
};

/**
 * The container's chain found by name: every jump to it goes but those from
 * `others` (addresses of its other interfaces, still in use), and the chain
 * once no jump is left. With the pod's namespace gone, there are no others.
 */
function teardownByName(a: PodMasqTeardown): void {
  const keep = new Set((a.others?.() ?? []).map(hostCidr));
  teardownPicked(() => new Set([chainName(a.network, a.containerId)]), [4, 6], (src) => src === undefined || !keep.has(src));
}

/**
 * `named` (the jumps of given addresses), and, when the DEL knows the
 * container's other live interfaces, every jump not from one of them.
 */
function besides(a: PodMasqTeardown, named: (source: string | undefined) => boolean): (source: string | undefined) => boolean {
  if (!a.others) return named;
  let keep: Set<string> | undefined;
  return (src) => {
    keep ??= new Set(a.others!().map(hostCidr));
    return named(src) || src === undefined || !keep.has(src);
  };
}

/**
 * DEL of an attachment whose rules are most likely not in iptables (it was
 * set up with nftables): one iptables-save per family of its addresses, and a
 * restore only where its chain is found, instead of a restore that fails first.
 */
export function iptablesTeardownByReading(a: PodMasqTeardown): void {
  awaitXtablesSettled();
  if (!a.addresses) return teardownByName(a);
  const chain = chainName(a.network, a.containerId);
  teardownPicked(() => new Set([chain]), byFamily(a.addresses).map(([f]) => f), besides(a, fromAddresses(a.addresses)));
}
