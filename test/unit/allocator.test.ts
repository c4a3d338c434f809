import { describe, expect, it } from 'vitest';
import { allocate, candidates } from '../../ipam/allocator.ts';
import { canonicalizeRangeSet } from '../../ipam/range.ts';
import { formatCidr, formatIp, parseIp } from '../../src/net/cidr.ts';
import { CniError } from '../../src/cni/errors.ts';
import { MemoryStore } from '../fakes/memory-store.ts';

const set = (...subnets: Array<string | { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string }>) =>
  canonicalizeRangeSet(subnets.map((s) => (typeof s === 'string' ? { subnet: s } : s)));

describe('allocator', () => {
  it('hands out addresses in order, skipping the gateway', () => {
    const s = new MemoryStore();
    const rs = set('10.0.0.0/29');
    const got = ['a', 'b', 'c'].map((id) => formatCidr(allocate(s, rs, 0, id, 'eth0').address));
    expect(got).toEqual(['10.0.0.2/29', '10.0.0.3/29', '10.0.0.4/29']);
  });

  it('continues after the last reserved address (round-robin), so a freed address is not reused at once', () => {
    const s = new MemoryStore();
    const rs = set('10.0.0.0/29');
    const a = allocate(s, rs, 0, 'a', 'eth0');
    s.release(a.address);
    expect(formatIp(allocate(s, rs, 0, 'b', 'eth0').address)).toBe('10.0.0.3');
  });

  it('wraps around to rangeStart and across ranges of a set', () => {
    const rs = set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.11' }, { subnet: '10.0.1.0/24', rangeStart: '10.0.1.10', rangeEnd: '10.0.1.10' });
    const order = [...candidates(rs, parseIp('10.0.0.11'))].map((c) => formatIp(c.ip));
    expect(order).toEqual(['10.0.1.10', '10.0.0.10', '10.0.0.11']);
  });

  it('starts at rangeStart when the last reserved address is outside the set', () => {
    const rs = set('10.0.0.0/29');
    expect(formatIp([...candidates(rs, parseIp('192.168.0.1'))][0]!.ip)).toBe('10.0.0.2');
  });

  it('reports exhaustion with code 100 and the range', () => {
    const s = new MemoryStore();
    const rs = set('10.0.0.0/30'); // .1 gateway, .2 usable
    allocate(s, rs, 0, 'a', 'eth0');
    const e = (() => {
      try {
        allocate(s, rs, 0, 'b', 'eth0');
      } catch (err) {
        return err as CniError;
      }
    })();
    expect(e?.code).toBe(100);
    expect(e?.message).toBe('no IP addresses available in range set: 10.0.0.1-10.0.0.2');
  });

  it('refuses a second allocation for the same container and interface', () => {
    const s = new MemoryStore();
    const rs = set('10.0.0.0/29');
    allocate(s, rs, 0, 'a', 'eth0');
    expect(() => allocate(s, rs, 0, 'a', 'eth0')).toThrow('duplicate allocation is not allowed');
    expect(formatIp(allocate(s, rs, 0, 'a', 'eth1').address)).toBe('10.0.0.3');
  });

  it('honours requested addresses and rejects the gateway, taken ones and foreign ones', () => {
    const s = new MemoryStore();
    const rs = set('10.0.0.0/29');
    expect(formatIp(allocate(s, rs, 0, 'a', 'eth0', parseIp('10.0.0.5')).address)).toBe('10.0.0.5');
    expect(() => allocate(s, rs, 0, 'b', 'eth0', parseIp('10.0.0.5'))).toThrow('requested IP address 10.0.0.5 is not available');
    expect(() => allocate(s, rs, 0, 'b', 'eth0', parseIp('10.0.0.1'))).toThrow("is subnet's gateway");
    expect(() => allocate(s, rs, 0, 'b', 'eth0', parseIp('10.9.0.1'))).toThrow('not in range set');
  });

  it('never yields the same address twice in one pass', () => {
    const rs = set('10.0.0.0/26');
    const all = [...candidates(rs, parseIp('10.0.0.17'))].map((c) => formatIp(c.ip));
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(61);
  });
});
