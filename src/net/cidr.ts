// Pure IP address arithmetic on BigInt, the analogue of Go's pkg/ip/cidr.go.
// ipaddr.js does the parsing and canonical printing (RFC 5952 for IPv6, which
// is also what Go's net.IP.String prints and so what names the store's files).
import ipaddr from 'ipaddr.js';

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
  // A zone ("fe80::1%eth0") names a link, not an address: Go's net.ParseIP
  // rejects it, and `ip` would read it as a device.
  if (!s.includes(':') || s.includes('%') || !ipaddr.isValid(s)) return undefined;
  // ipaddr.js accepts non-canonical IPv4 forms ("10.1", "0x0a.0.0.1") that Go
  // rejects; allow only dotted quads.
  const parsed = ipaddr.parse(s);
  const bytes = parsed.toByteArray();
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: parsed.kind() === 'ipv4' ? 4 : 6, value };
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
  const n = 16;
  const bytes: number[] = new Array(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
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

export function isDefaultRoute(dst: string): boolean {
  const c = parseCidr(dst);
  return c !== undefined && c.prefix === 0;
}

export function familyOf(ipOrCidr: string): Family {
  return ipOrCidr.includes(':') ? 6 : 4;
}

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
