// What the allocator needs from persistent state; mirrors Go's backend.Store so
// the allocation logic can be tested against an in-memory store.
import type { Addr } from '../src/net/cidr.ts';

export interface Allocation {
  ip: Addr;
  containerId: string;
  // Empty for files written before host-local recorded the interface name.
  ifName: string;
  /**
   * Set when the record names no owner, though its address stays taken:
   * 'empty' (blank or whitespace only: what Go host-local, which writes in
   * place, leaves when killed between create and write), 'too large', or
   * 'unreadable' (detail: the error, EACCES…). containerId is then ''.
   */
  damage?: { kind: 'empty' | 'too large' | 'unreadable'; detail: string };
}

/** What `flatnet ipam ls` and gc say of a damaged record. */
export const damageText = (d: NonNullable<Allocation['damage']>): string =>
  d.kind === 'empty' ? 'empty record' : d.kind === 'too large' ? `record larger than ${d.detail}` : `unreadable record (${d.detail})`;

export interface Store {
  /**
   * Serialises all mutations across processes until unlock(). `owner` says
   * whose addresses will be reserved, so the store can prepare before locking.
   */
  lock(owner?: { id: string; ifName: string }): void;
  unlock(): void;
  /** Claims `ip` for (id, ifname); false when someone holds it already. */
  reserve(id: string, ifName: string, ip: Addr, rangeId: number): boolean;
  lastReservedIp(rangeId: number): Addr | undefined;
  /** Every allocation in the network, including legacy id-only ones. */
  list(): Allocation[];
  /**
   * The allocations of one attachment (Go's GetByID): records of (id,
   * ifname), else legacy records of id alone. Cheaper than list(): only the
   * matches are parsed.
   */
  findByOwner(id: string, ifName: string): Allocation[];
  release(ip: Addr): void;
}

/** Allocations matching (id, ifname), falling back to legacy id-only records as Go does. */
export function ownedBy<T extends { containerId: string; ifName: string }>(all: T[], id: string, ifName: string): T[] {
  const exact = all.filter((a) => a.containerId === id && a.ifName === ifName);
  return exact.length > 0 ? exact : all.filter((a) => a.containerId === id && a.ifName === '');
}
