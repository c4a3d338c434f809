// Per-attachment masquerade with the Go bridge plugin's iptables layout
// (chain CNI-<sha512(net+id)[:24]>, comment `name: "<net>" id: "<id>"`), so
// rules made by either plugin are found and removed by the other. Applied and
// removed with one iptables-restore per family.
import { createHash } from 'node:crypto';
import { ExecError, run, runConcurrently, runOk } from './exec.ts';
import { type Family, familyOf, formatCidr, networkOf, parseCidr } from '../net/cidr.ts';

export const chainName = (net: string, id: string): string => `CNI-${createHash('sha512').update(net + id).digest('hex').slice(0, 24)}`;
export const ruleComment = (net: string, id: string): string => `name: ${JSON.stringify(net)} id: ${JSON.stringify(id)}`;
const quoted = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;

// restore is the whole argv: --noflush keeps everything else in the table, -w waits for the xtables lock.
export const iptablesTools = (f: Family): { save: string; restore: string[]; mcast: string } =>
  f === 4
    ? { save: 'iptables-save', restore: ['iptables-restore', '--noflush', '-w'], mcast: '224.0.0.0/4' }
    : { save: 'ip6tables-save', restore: ['ip6tables-restore', '--noflush', '-w'], mcast: 'ff00::/8' };

// The POSTROUTING jump of one address, without -A/-D: setup appends exactly
// what the exact teardown deletes.
const jumpSpec = (net: string, id: string, address: string, family: Family): string =>
  `POSTROUTING -s ${address.split('/')[0]}/${family === 4 ? 32 : 128} -m comment --comment ${quoted(ruleComment(net, id))} -j ${chainName(net, id)}`;

/** iptables-restore input that masquerades `addresses` (CIDRs of one family) leaving their subnets. */
export function masqRules(net: string, id: string, addresses: string[], family: Family): string {
  const chain = chainName(net, id);
  const c = `-m comment --comment ${quoted(ruleComment(net, id))}`;
  const lines = ['*nat', `:${chain} - [0:0]`];
  for (const a of addresses) {
    const cidr = parseCidr(a)!;
    lines.push(`-A ${chain} -d ${formatCidr(networkOf(cidr))} ${c} -j ACCEPT`);
  }
  lines.push(`-A ${chain} ! -d ${iptablesTools(family).mcast} ${c} -j MASQUERADE`);
  for (const a of addresses) lines.push(`-A ${jumpSpec(net, id, a, family)}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Starts both families' iptables-restore at once; they run while the caller configures the pod. */
export async function setupMasq(net: string, id: string, addresses: string[]): Promise<void> {
  const runs = ([4, 6] as const).flatMap((family) => {
    const mine = addresses.filter((a) => familyOf(a) === family);
    const argv = iptablesTools(family).restore;
    return mine.length ? [runConcurrently(argv, masqRules(net, id, mine, family)).then((r) => ({ argv, r }))] : [];
  });
  for (const { argv, r } of await Promise.all(runs)) if (r.exitCode !== 0) throw new ExecError(argv, r);
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

async function teardown(pick: (saved: string) => Set<string>): Promise<void> {
  for (const family of [4, 6] as const) {
    const t = iptablesTools(family);
    const saved = await run([t.save, '-t', 'nat']);
    if (saved.exitCode !== 0) continue; // no such table/tool: nothing of ours can be there
    const input = teardownRules(saved.stdout, pick(saved.stdout));
    if (input) await runOk(t.restore, input);
  }
}

/** iptables-restore input that removes exactly what masqRules made. */
export function exactTeardownRules(net: string, id: string, addresses: string[], family: Family): string {
  const chain = chainName(net, id);
  return ['*nat', ...addresses.map((a) => `-D ${jumpSpec(net, id, a, family)}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
}

/**
 * Removes the masquerade of one attachment; fine when it is already gone.
 * With the addresses from prevResult one iptables-restore per family does it;
 * when that fails (rules edited, or no prevResult) the nat table is read and
 * everything jumping to the chain is removed.
 */
export async function teardownMasq(net: string, id: string, addresses?: string[]): Promise<void> {
  if (addresses?.length) {
    let exact = true;
    for (const family of [4, 6] as const) {
      const mine = addresses.filter((a) => familyOf(a) === family);
      if (mine.length && (await run(iptablesTools(family).restore, exactTeardownRules(net, id, mine, family))).exitCode !== 0) exact = false;
    }
    if (exact) return;
  }
  await teardown(() => new Set([chainName(net, id)]));
}

/** Container IDs with masquerade chains of network `net`, read from the rule comments. */
export function masqOwners(saved: string, net: string): Map<string, string> {
  const owners = new Map<string, string>();
  const re = /^-A (CNI-[0-9a-f]{24}) .*--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/;
  for (const l of saved.split('\n')) {
    const m = re.exec(l);
    if (m && m[2] === net && chainName(net, m[3]!) === m[1]) owners.set(m[1]!, m[3]!);
  }
  return owners;
}

/** GC: removes masquerade chains of `net` whose container is not in `validIds`. */
export async function gcMasq(net: string, validIds: Set<string>): Promise<void> {
  await teardown((saved) => {
    const stale = new Set<string>();
    for (const [chain, id] of masqOwners(saved, net)) if (!validIds.has(id)) stale.add(chain);
    return stale;
  });
}
