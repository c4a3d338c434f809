// Pure IP address arithmetic on BigInt, the analogue of Go's pkg/ip/cidr.go.
// Addresses are parsed and printed by hand (RFC 5952 for IPv6, which is also
// what Go's net.IP.String prints and so what names the store's files), and
// property-tested against ipaddr.js: loading ipaddr.js cost every plugin run
// a seventh of its start-up (it builds its regexes and range tables at load),
// and the agent parses thousands of addresses per sync.

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

export interface Cidr extends Addr {
  prefix: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

// Dotted quads without leading zeros (what Go and ipaddr.js's four-part
// decimal accept). Parsed by hand: the agent parses every node's addresses on
// each sync, and ipaddr.js + BigInt per byte made that 10 us an address.
const QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

export function parseIp(s: string): Addr | undefined {
  if (typeof s !== 'string') return undefined;
  const q = QUAD.exec(s);
  if (q) {
    const [a, b, c, d] = [Number(q[1]), Number(q[2]), Number(q[3]), Number(q[4])];
    if (a > 255 || b > 255 || c > 255 || d > 255) return undefined;
    return { family: 4, value: BigInt(a * 0x1000000 + b * 0x10000 + c * 0x100 + d) };
  }
  return s.includes(':') ? parseIPv6(s) : undefined;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The 16-bit groups of one side of "::" (an IPv4 dotted quad may end the address); undefined when malformed. */
function groups(side: string, last: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const out: number[] = [];
  for (const [i, p] of parts.entries()) {
    if (last && i === parts.length - 1 && p.includes('.')) {
      const v4 = QUAD.exec(p);
      const b = v4 ? [Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4])] : [];
      if (!v4 || b.some((x) => x > 255)) return undefined;
      out.push(b[0]! * 256 + b[1]!, b[2]! * 256 + b[3]!);
    } else if (HEX_GROUP.test(p)) out.push(parseInt(p, 16));
    else return undefined;
  }
  return out;
}

// A zone ("fe80::1%eth0") names a link, not an address: Go's net.ParseIP
// rejects it, and `ip` would read it as a device. So does this (no '%' passes HEX_GROUP).
function parseIPv6(s: string): Addr | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const head = groups(halves[0]!, false);
    const tail = groups(halves[1]!, true);
    // "::" stands for one or more zero groups.
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const only = groups(s, true);
    if (!only || only.length !== 8) return undefined;
    all = only;
  }
  let value = 0n;
  for (const g of all) value = (value << 16n) | BigInt(g);
  return { family: 6, value };
}

export function parseCidr(s: string): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bitsOf(ip.family)) return undefined;
  return { ...ip, prefix };
}

export function formatIp(a: Addr): string {
  if (a.family === 4) {
    const v = Number(a.value);
    return `${Math.floor(v / 0x1000000) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return formatIPv6(a.value);
}

/** RFC 5952: lower-case groups without leading zeros, the longest run of two or more zero groups (the first of equals) as "::". */
function formatIPv6(value: bigint): string {
  const g: number[] = new Array(8);
  let v = value;
  for (let i = 7; i >= 0; i--) {
    g[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

export const formatCidr = (c: Cidr): string => `${formatIp(c)}/${c.prefix}`;

// Masks per family and prefix, made once: the agent tests thousands of
// CIDRs per sync, and building each mask with BigInt shifts was most of it.
const HOST_MASKS: Record<Family, bigint[]> = { 4: [], 6: [] };
const NET_MASKS: Record<Family, bigint[]> = { 4: [], 6: [] };
for (const f of [4, 6] as const) {
  const all = (1n << BigInt(bitsOf(f))) - 1n;
  for (let p = 0; p <= bitsOf(f); p++) {
    HOST_MASKS[f][p] = (1n << BigInt(bitsOf(f) - p)) - 1n;
    NET_MASKS[f][p] = all ^ HOST_MASKS[f][p]!;
  }
}
const hostMask = (c: Cidr): bigint => HOST_MASKS[c.family][c.prefix]!;
const netMask = (c: Cidr): bigint => NET_MASKS[c.family][c.prefix]!;

export const networkOf = (c: Cidr): Cidr => ({ family: c.family, prefix: c.prefix, value: c.value & netMask(c) });
export const lastOf = (c: Cidr): Addr => ({ family: c.family, value: (c.value & netMask(c)) | hostMask(c) });

export function contains(net: Cidr, a: Addr): boolean {
  if (net.family !== a.family) return false;
  const m = netMask(net);
  return (a.value & m) === (net.value & m);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (contains(a, b) || contains(b, a));
}

export const addrEq = (a: Addr, b: Addr): boolean => a.family === b.family && a.value === b.value;
export const offset = (a: Addr, n: bigint): Addr => ({ family: a.family, value: a.value + n });

/**
 * Canonical CIDRs with every entry that another one contains removed, in input
 * order: 5,000 node /32s inside the node subnet become that one subnet.
 */
export function collapseCidrs(list: string[]): string[] {
  const parsed = [...new Map(list.map((s) => parseCidr(s)).filter((c): c is Cidr => c !== undefined).map((c) => networkOf(c)).map((c) => [formatCidr(c), c] as const)).values()];
  // Widest first, so a containment check only needs the kept (wider) ones.
  const byWidth = [...parsed].sort((a, b) => a.prefix - b.prefix);
  const kept: Cidr[] = [];
  for (const c of byWidth) if (!kept.some((k) => k.prefix <= c.prefix && contains(k, c))) kept.push(c);
  const keep = new Set(kept.map(formatCidr));
  return parsed.map(formatCidr).filter((s) => keep.has(s));
}
