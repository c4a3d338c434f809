// Round-robin address allocation over one range set, the logic of Go's
// host-local allocator.go with no I/O of its own: everything persistent goes
// through the Store, so this is tested against an in-memory store.
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import { type Addr, type Cidr, addrEq, formatIp, offset } from '../src/net/cidr.ts';
import { mark } from '../src/profile.ts';
import type { Store } from './store.ts';
import { type RangeSet, rangeContains, rangeFor, rangeSetToString } from './range.ts';

export interface Allocated {
  address: Cidr; // the IP with its subnet's prefix length
  gateway: Addr;
}

/**
 * Candidates in allocation order: starting after the last reserved address
 * (so a crash-looping pod does not get its address straight back), walking
 * each range and wrapping to the next, skipping gateways, ending where it began.
 */
export function* candidates(set: RangeSet, lastReserved: Addr | undefined): Generator<{ ip: Addr; rangeIdx: number }> {
  let idx = 0;
  let cur: Addr | undefined;
  let start: Addr | undefined;
  const startIdx = lastReserved ? set.findIndex((r) => rangeContains(r, lastReserved)) : -1;
  if (startIdx >= 0) {
    idx = startIdx;
    cur = lastReserved;
  }
  for (;;) {
    const r = set[idx]!;
    if (cur === undefined) {
      cur = r.rangeStart;
      start = cur;
    } else {
      if (cur.value === r.rangeEnd.value) {
        idx = (idx + 1) % set.length;
        cur = set[idx]!.rangeStart;
      } else {
        cur = offset(cur, 1n);
      }
      if (start === undefined) start = cur;
      else if (addrEq(cur, start)) return;
    }
    const range = set[idx]!;
    if (!addrEq(cur, range.gateway)) yield { ip: cur, rangeIdx: idx };
  }
}

export function allocate(store: Store, set: RangeSet, rangeId: number, id: string, ifName: string, requested?: Addr): Allocated {
  if (requested) {
    const r = rangeFor(set, requested);
    if (!r) throw new CniError(ErrorCode.AddressUnavailable, `${formatIp(requested)} not in range set ${rangeSetToString(set)}`);
    if (addrEq(requested, r.gateway)) throw new CniError(ErrorCode.AddressUnavailable, `requested ip ${formatIp(requested)} is subnet's gateway`);
    if (!store.reserve(id, ifName, requested, rangeId)) {
      throw new CniError(ErrorCode.AddressUnavailable, `requested IP address ${formatIp(requested)} is not available in range set ${rangeSetToString(set)}`);
    }
    return { address: { ...requested, prefix: r.subnet.prefix }, gateway: r.gateway };
  }
  const existing = store.findByOwner(id, ifName);
  mark('ipam-list');
  for (const a of existing) {
    if (rangeFor(set, a.ip)) {
      throw new CniError(
        ErrorCode.DuplicateAllocation,
        `${formatIp(a.ip)} has been allocated to ${id}, duplicate allocation is not allowed`,
        'the runtime sent ADD twice for one container and interface; send DEL first',
      );
    }
  }
  const last = store.lastReservedIp(rangeId);
  mark('ipam-last');
  for (const c of candidates(set, last)) {
    if (store.reserve(id, ifName, c.ip, rangeId)) {
      mark('ipam-reserve');
      const r = set[c.rangeIdx]!;
      return { address: { ...c.ip, prefix: r.subnet.prefix }, gateway: r.gateway };
    }
  }
  throw new CniError(
    ErrorCode.NoAddressesAvailable,
    `no IP addresses available in range set: ${rangeSetToString(set)}`,
    'every address is allocated: delete unused pods, run GC for leaked allocations, or give the node a larger subnet',
  );
}
