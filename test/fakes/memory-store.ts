// In-memory Store for allocator tests, like Go's backend/testing/fake_store.go.
import { type Addr, formatIp } from '../../src/net/cidr.ts';
import { type Allocation, ownedBy, type Store } from '../../ipam/store.ts';

export class MemoryStore implements Store {
  readonly ips = new Map<string, Allocation>();
  readonly last = new Map<number, Addr>();
  lock(): void {}
  unlock(): void {}
  reserve(id: string, ifName: string, ip: Addr, rangeId: number): boolean {
    const k = formatIp(ip);
    if (this.ips.has(k)) return false;
    this.ips.set(k, { ip, containerId: id, ifName });
    this.last.set(rangeId, ip);
    return true;
  }
  lastReservedIp(rangeId: number): Addr | undefined {
    return this.last.get(rangeId);
  }
  list(): Allocation[] {
    return [...this.ips.values()];
  }
  findByOwner(id: string, ifName: string): Allocation[] {
    return ownedBy(this.list(), id, ifName);
  }
  release(ip: Addr): void {
    this.ips.delete(formatIp(ip));
  }
}
