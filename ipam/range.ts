// Address ranges and range sets with host-local's validation and defaults
// (plugins/ipam/host-local/backend/allocator/range.go, range_set.go).
import { type Addr, type Cidr, type Family, contains, formatCidr, formatIp, lastOf, networkOf, offset, parseCidr, parseIp, bitsOf } from '../src/net/cidr.ts';

export interface RangeSpec {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface Range {
  subnet: Cidr;
  rangeStart: Addr;
  rangeEnd: Addr;
  gateway: Addr;
}

export type RangeSet = Range[];

/** Thrown with a message that the config layer prefixes with the set's index. */
export class InvalidRangeError extends Error {}

function ipIn(r: RangeSpec, key: 'rangeStart' | 'rangeEnd' | 'gateway', family: Family): Addr | undefined {
  const raw = r[key];
  if (raw === undefined || raw === '') return undefined;
  const a = parseIp(raw);
  if (!a) throw new InvalidRangeError(`${key} ${JSON.stringify(raw)} is not an IP address`);
  if (a.family !== family) throw new InvalidRangeError(`${key} ${raw} is not in the subnet's address family`);
  return a;
}

export function canonicalizeRange(spec: RangeSpec): Range {
  if (typeof spec.subnet !== 'string' || spec.subnet === '') throw new InvalidRangeError('subnet is required, e.g. "10.22.0.0/24"');
  const subnet = parseCidr(spec.subnet);
  if (!subnet) throw new InvalidRangeError(`subnet ${JSON.stringify(spec.subnet)} is not a CIDR such as 10.22.0.0/24`);
  // An IPv4-mapped IPv6 subnet (::ffff:a.b.c.d/n): Go reads its address as
  // IPv4 beside an IPv6 mask and refuses it; as IPv6 it would put an address
  // no IPv4 peer answers on the pod.
  if (subnet.family === 6 && subnet.value >> 32n === 0xffffn) throw new InvalidRangeError('IPNet IP and Mask version mismatch');
  const bits = bitsOf(subnet.family);
  if (bits - subnet.prefix < 2) throw new InvalidRangeError(`Network ${spec.subnet} too small to allocate from`);
  const net = networkOf(subnet);
  if (net.value !== subnet.value) {
    throw new InvalidRangeError(`Network has host bits set. For a subnet mask of length ${subnet.prefix} the network address is ${formatIp(net)}`);
  }
  const last = lastOf(net);
  // IPv4 has a broadcast address; IPv6 does not, so its last address is usable.
  const defaultEnd = net.family === 4 ? offset(last, -1n) : last;
  const rangeStart = ipIn(spec, 'rangeStart', net.family) ?? offset(net, 1n);
  const rangeEnd = ipIn(spec, 'rangeEnd', net.family) ?? defaultEnd;
  const gateway = ipIn(spec, 'gateway', net.family) ?? offset(net, 1n);
  if (!contains(net, rangeStart)) throw new InvalidRangeError(`RangeStart ${formatIp(rangeStart)} not in network ${formatCidr(net)}`);
  if (!contains(net, rangeEnd)) throw new InvalidRangeError(`RangeEnd ${formatIp(rangeEnd)} not in network ${formatCidr(net)}`);
  if (rangeStart.value > rangeEnd.value) throw new InvalidRangeError(`RangeStart ${formatIp(rangeStart)} is after RangeEnd ${formatIp(rangeEnd)}`);
  return { subnet: net, rangeStart, rangeEnd, gateway };
}

export const rangeContains = (r: Range, a: Addr): boolean =>
  contains(r.subnet, a) && a.value >= r.rangeStart.value && a.value <= r.rangeEnd.value;

export function rangesOverlap(a: Range, b: Range): boolean {
  return a.subnet.family === b.subnet.family && a.rangeStart.value <= b.rangeEnd.value && b.rangeStart.value <= a.rangeEnd.value;
}

export const rangeToString = (r: Range): string => `${formatIp(r.rangeStart)}-${formatIp(r.rangeEnd)}`;
export const rangeSetToString = (s: RangeSet): string => s.map(rangeToString).join(',');

export function canonicalizeRangeSet(specs: RangeSpec[]): RangeSet {
  if (specs.length === 0) throw new InvalidRangeError('empty range set');
  const set = specs.map(canonicalizeRange);
  const family = set[0]!.subnet.family;
  if (set.some((r) => r.subnet.family !== family)) throw new InvalidRangeError('mixed address families');
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (rangesOverlap(set[i]!, set[j]!)) throw new InvalidRangeError(`subnets ${rangeToString(set[i]!)} and ${rangeToString(set[j]!)} overlap`);
    }
  }
  return set;
}

export const rangeFor = (s: RangeSet, a: Addr): Range | undefined => s.find((r) => rangeContains(r, a));

export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((ra) => b.some((rb) => rangesOverlap(ra, rb)));
}

/** How many addresses the set can hand out (gateways inside a range are never handed out). */
export function rangeSetSize(s: RangeSet): bigint {
  let n = 0n;
  for (const r of s) {
    n += r.rangeEnd.value - r.rangeStart.value + 1n;
    if (rangeContains(r, r.gateway)) n -= 1n;
  }
  return n;
}
