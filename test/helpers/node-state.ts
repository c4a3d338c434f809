// What a plugin can leave in a namespace, read in one process per namespace
// and normalised so two readings compare with toEqual: links with their
// addresses, routes of every table, iptables rules and custom chains, nft
// tables other than iptables-nft's own with their chains and rules. Used to prove that a failed call
// changed nothing and that ADD+DEL leaves only the shared bridge.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Netns } from './netns.ts';

export interface NsState {
  links: string[];
  routes: string[];
  iptables: string[];
  nft: string[];
}

const SEP = '\n--8<--\n';
const SCRIPT = [
  'ip -j -d addr show',
  'ip -4 -j route show table all',
  'ip -6 -j route show table all',
  'iptables-save 2>/dev/null',
  'ip6tables-save 2>/dev/null',
  'nft -j list ruleset 2>/dev/null',
].join(`; printf '${SEP.replace(/\n/g, '\\n')}'; `);

// Chains every table has; only custom chains and rules are state a plugin adds.
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
// Tables iptables-nft creates on first use; their rules are read through iptables-save.
const IPTABLES_NFT = /^table (ip|ip6) (nat|filter|mangle|raw|security)$/;

interface JLink {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ local: string; prefixlen: number; scope?: string }>;
}
interface JRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  table?: string;
  type?: string;
  protocol?: string;
}

function parseLinks(text: string): string[] {
  return (JSON.parse(text || '[]') as JLink[])
    .map((l) => {
      const addrs = (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
      const up = (l.flags ?? []).includes('UP') ? ' up' : '';
      return `${l.ifname} ${l.linkinfo?.info_kind ?? '-'}${l.master ? ` master ${l.master}` : ''}${up}${addrs.length ? ` ${addrs.join(',')}` : ''}`;
    })
    .sort();
}

function parseRoutes(text: string): string[] {
  return (JSON.parse(text || '[]') as JRoute[])
    // The kernel adds an IPv6 link-local address (and its local route) on its own, when DAD ends: not a plugin's doing.
    .filter((r) => !(r.type === 'local' && r.dst.startsWith('fe80:')))
    .map((r) => [r.type ?? 'unicast', r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`, `table ${r.table ?? 'main'}`].filter(Boolean).join(' '))
    .sort();
}

function parseIptables(text: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const l of text.split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    else if (l.startsWith('-A ')) out.push(`${table} ${l}`);
    else if (l.startsWith(':')) {
      const chain = l.slice(1).split(' ')[0]!;
      if (!BUILTIN.has(chain)) out.push(`${table} chain ${chain}`);
    }
  }
  return out.sort();
}

/**
 * nft's ruleset as lines (tables, chains with their hook, rules with their
 * comment and expressions, handles left out), but iptables-nft's own tables,
 * whose rules are read through iptables-save.
 */
function parseNft(text: string): string[] {
  let doc: { nftables?: Array<Record<string, any>> };
  try {
    doc = JSON.parse(text || '{}');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of doc.nftables ?? []) {
    const [kind, o] = Object.entries(item)[0] ?? [];
    if (!o || (kind !== 'table' && kind !== 'chain' && kind !== 'rule')) continue;
    const table = `table ${o.family} ${kind === 'table' ? o.name : o.table}`;
    if (IPTABLES_NFT.test(table)) continue;
    if (kind === 'table') out.push(table);
    else if (kind === 'chain') out.push(`${table} chain ${o.name}${o.hook ? ` ${o.type} ${o.hook} ${o.prio} ${o.policy}` : ''}`);
    else out.push(`${table} chain ${o.chain} rule ${JSON.stringify(o.expr)}${o.comment ? ` comment ${JSON.stringify(o.comment)}` : ''}`);
  }
  return out.sort();
}

/** Reads `ns` (one `ip netns exec` + sh). */
export async function nsState(ns: Netns): Promise<NsState> {
  const r = await execa('ip', ['netns', 'exec', ns.name, 'sh', '-c', SCRIPT], { reject: false, env: { LC_ALL: 'C' } });
  const [links, r4, r6, ipt4, ipt6, nft] = r.stdout.split(SEP.trim()).map((s) => s.trim());
  return {
    links: parseLinks(links ?? ''),
    routes: [...parseRoutes(r4 ?? ''), ...parseRoutes(r6 ?? '')],
    iptables: [...parseIptables(ipt4 ?? '').map((l) => `v4 ${l}`), ...parseIptables(ipt6 ?? '').map((l) => `v6 ${l}`)],
    nft: parseNft(nft ?? ''),
  };
}

/**
 * What DEL keeps by design, as Go does, made by an ADD of either plugin: the
 * table and base chain of macspoofchk's rules, emptied.
 */
export const SHARED_NFT: ReadonlySet<string> = new Set(['table bridge nat', 'table bridge nat chain PREROUTING filter prerouting -300 accept']);

/** The state without a link and everything on it (the shared bridge, which DEL keeps by design, as Go does), nor macspoofchk's shared table. */
export function withoutLink(s: NsState, name: string | undefined): NsState {
  if (!name) return s;
  return {
    ...s,
    nft: s.nft.filter((l) => !SHARED_NFT.has(l)),
    links: s.links.filter((l) => l.split(' ')[0] !== name),
    routes: s.routes.filter((r) => !r.includes(` dev ${name} `)),
  };
}

/**
 * Every file under `dir` with its content, except the store's own bookkeeping
 * (`lock`, `last_reserved_ip.N`), which Go keeps too. Leases and stray temp
 * files show up.
 */
export function storeFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(p).isDirectory()) walk(p, r);
      else if (n !== 'lock' && !n.startsWith('last_reserved_ip.')) out[r] = readFileSync(p, 'latin1');
    }
  };
  walk(dir, '');
  return out;
}
