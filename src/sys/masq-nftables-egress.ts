// The agent's egress masquerade in nftables, in a table of its own:
//
//   table inet flatnet
//     set pods_v4   { type ipv4_addr; flags interval }   this node's pod CIDRs
//     set nomasq_v4 { type ipv4_addr; flags interval }   the cluster CIDR (what the agent exempts)
//     chain postrouting { type nat hook postrouting priority srcnat }
//       ip saddr @pods_v4 ip daddr != @nomasq_v4 masquerade comment "flatnet egress IPv4"
//     (and the same with _v6 / ip6)
//
// Each sync reads the table (`nft -j list table inet flatnet`), compares it
// with what is wanted for one family and writes one transaction only when
// something differs, so a no-change resync touches no firewall state.
import { type Addr, type Cidr, type Family, formatCidr, formatIp, networkOf, parseCidr } from '../net/cidr.ts';
import { ExecError, run } from './exec.ts';
import type { EgressMasq } from './kernel.ts';
import { missingCommand } from './masq-detect.ts';
import { isNoSuchObject, nftApply, nftList, type NftListing, type NftRule, nftString } from './nft.ts';

export const EGRESS_TABLE = 'inet flatnet';
const CHAIN = 'postrouting';
const TABLE_COMMENT = "flatnet agent: masquerade of this node's pods' traffic leaving the cluster";
const v = (f: Family): string => `v${f}`;
export const podsSet = (f: Family): string => `pods_${v(f)}`;
export const noMasqSet = (f: Family): string => `nomasq_${v(f)}`;
export const egressComment = (f: Family): string => `flatnet egress IPv${f}`;
const proto = (f: Family): string => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family): string => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

type Range = [bigint, bigint];

/** Sorted, merged ranges: how two interval sets are compared, whatever nft printed (prefixes, ranges, single addresses). */
export function mergeRanges(list: Range[]): Range[] {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range[] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) last[1] = hi > last[1] ? hi : last[1];
    else out.push([lo, hi]);
  }
  return out;
}

const cidrRange = (c: Cidr): Range => {
  const host = (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n;
  return [c.value & ~host, c.value | host];
};
const sameRanges = (a: Range[], b: Range[]): boolean => a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1]);

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** `<proto> <field> <op> @<set>`, as nft -j prints it (a set lookup's op is "==" or, in some versions, "in"). */
function isLookup(e: unknown, p: string, field: string, ops: string[], set: string): boolean {
  if (!isRecord(e) || !isRecord(e.match)) return false;
  const m = e.match;
  const left = isRecord(m.left) && isRecord(m.left.payload) ? m.left.payload : undefined;
  return typeof m.op === 'string' && ops.includes(m.op) && left?.protocol === p && left.field === field && m.right === `@${set}`;
}

/** Whether a rule is exactly the egress rule of family `f`. */
export function isEgressRule(r: NftRule, f: Family): boolean {
  const [src, dst, verdict] = r.expr;
  return (
    r.comment === egressComment(f) &&
    r.expr.length === 3 &&
    isLookup(src, proto(f), 'saddr', ['==', 'in'], podsSet(f)) &&
    isLookup(dst, proto(f), 'daddr', ['!='], noMasqSet(f)) &&
    isRecord(verdict) &&
    Object.keys(verdict).length === 1 &&
    'masquerade' in verdict
  );
}

function setLines(f: Family, name: string, want: Cidr[], have: NftListing | undefined): string[] {
  const current = have?.sets.find((s) => s.name === name);
  const wanted = mergeRanges(want.map(cidrRange));
  const haveRanges = current?.elems && mergeRanges(current.elems.map(([a, b]): Range => [a.value, b.value]));
  if (haveRanges && sameRanges(haveRanges, wanted)) return [];
  return [
    `add set ${EGRESS_TABLE} ${name} { type ${addrType(f)} ; flags interval ; }`,
    `flush set ${EGRESS_TABLE} ${name}`,
    ...(want.length ? [`add element ${EGRESS_TABLE} ${name} { ${want.map((c) => formatCidr(networkOf(c))).join(', ')} }`] : []),
  ];
}

/**
 * The transaction that brings family `f` of the table to `podCIDRs` and
 * `noMasq`, given the table as listed (undefined: absent); undefined when
 * nothing differs. A chain or set that is not what flatnet makes (edited by
 * hand) gets the table rebuilt: the other family is rebuilt by its own sync.
 */
export function egressScript(have: NftListing | undefined, f: Family, podCIDRs: Cidr[], noMasq: Cidr[]): string | undefined {
  const chain = have?.chains.find((c) => c.name === CHAIN);
  const foreignSet = have?.sets.some((s) => (s.name === podsSet(f) || s.name === noMasqSet(f)) && (s.type !== addrType(f) || s.elems === undefined));
  const rebuild = have !== undefined && ((chain && (chain.type !== 'nat' || chain.hook !== 'postrouting' || chain.prio !== 100)) || foreignSet);
  const state = rebuild ? undefined : have;
  const rules = state?.rules.filter((r) => r.chain === CHAIN) ?? [];
  const keep = rules.find((r) => isEgressRule(r, f));
  // Ours are this family's rule and the other family's; anything else in our chain goes.
  const other: Family = f === 4 ? 6 : 4;
  const drop = rules.filter((r) => r !== keep && r.comment !== egressComment(other));
  const sets = [...setLines(f, podsSet(f), podCIDRs, state), ...setLines(f, noMasqSet(f), noMasq, state)];
  if (state && chain && keep && drop.length === 0 && sets.length === 0) return undefined;
  const lines = [
    ...(rebuild ? [`delete table ${EGRESS_TABLE}`] : []),
    `add table ${EGRESS_TABLE} { comment ${nftString(TABLE_COMMENT)} ; }`,
    `add chain ${EGRESS_TABLE} ${CHAIN} { type nat hook postrouting priority 100 ; policy accept ; }`,
    ...sets,
    ...drop.map((r) => `delete rule ${EGRESS_TABLE} ${CHAIN} handle ${r.handle}`),
    ...(keep ? [] : [`add rule ${EGRESS_TABLE} ${CHAIN} ${proto(f)} saddr @${podsSet(f)} ${proto(f)} daddr != @${noMasqSet(f)} masquerade comment ${nftString(egressComment(f))}`]),
  ];
  return `${lines.join('\n')}\n`;
}

/** What one family of the table masquerades, as flatnet status shows it. */
export interface EgressFamilyState {
  family: Family;
  from: string[];
  except: string[];
  /** The family's masquerade rule is in place. */
  active: boolean;
}

/** A range as a CIDR when it is one, else first-last. */
function rangeText(f: Family, [lo, hi]: Range): string {
  const size = hi - lo + 1n;
  const aligned = (size & (size - 1n)) === 0n && lo % size === 0n;
  const asCidr = aligned ? parseCidr(`${formatIp({ family: f, value: lo })}/${(f === 4 ? 32 : 128) - (size.toString(2).length - 1)}`) : undefined;
  return asCidr ? formatCidr(asCidr) : `${formatIp({ family: f, value: lo })}-${formatIp({ family: f, value: hi })}`;
}

const setText = (f: Family, elems: Array<[Addr, Addr]> | undefined): string[] => mergeRanges((elems ?? []).map(([a, b]): Range => [a.value, b.value])).map((r) => rangeText(f, r));

export function egressState(have: NftListing): EgressFamilyState[] {
  return ([4, 6] as const).flatMap((f) => {
    const pods = have.sets.find((s) => s.name === podsSet(f));
    if (!pods) return [];
    const no = have.sets.find((s) => s.name === noMasqSet(f));
    return [{ family: f, from: setText(f, pods.elems), except: setText(f, no?.elems), active: have.rules.some((r) => isEgressRule(r, f)) }];
  });
}

export const nftablesEgressMasq: EgressMasq = {
  sync(family, podCIDRs, noMasq): boolean {
    const script = egressScript(nftList(['table', ...EGRESS_TABLE.split(' ')]), family, podCIDRs, noMasq);
    if (script) nftApply(script);
    return script !== undefined;
  },
  remove(): void {
    const argv = ['nft', 'delete', 'table', ...EGRESS_TABLE.split(' ')];
    const r = run(argv);
    if (r.exitCode !== 0 && !isNoSuchObject(r) && !missingCommand(r, 'nft')) throw new ExecError(argv, r);
  },
  describe(): string {
    const have = nftList(['table', ...EGRESS_TABLE.split(' ')]);
    const state = have ? egressState(have) : [];
    if (state.length === 0) return `nftables: no table ${EGRESS_TABLE}`;
    const fams = state.map((s) => `IPv${s.family} from ${s.from.join(', ') || 'nothing'} except to ${s.except.join(', ') || 'nothing'}${s.active ? '' : ' (rule missing)'}`);
    return `nftables table ${EGRESS_TABLE}: ${fams.join('; ')} (nft list table ${EGRESS_TABLE})`;
  },
};
