import { describe, expect, it } from 'vitest';
import { formatIp } from '../../src/net/cidr.ts';
import { canonicalizeRange, canonicalizeRangeSet, rangeSetSize } from '../../ipam/range.ts';

describe('range canonicalisation (host-local rules)', () => {
  it('defaults gateway to .1, start to .1 and end to broadcast-1 for IPv4', () => {
    const r = canonicalizeRange({ subnet: '10.22.0.0/24' });
    expect([r.gateway, r.rangeStart, r.rangeEnd].map(formatIp)).toEqual(['10.22.0.1', '10.22.0.1', '10.22.0.254']);
  });
  it('lets IPv6 use the all-ones address', () => {
    expect(formatIp(canonicalizeRange({ subnet: 'fd00::/120' }).rangeEnd)).toBe('fd00::ff');
  });
  it.each([
    [{ subnet: '10.30.0.0/31' }, 'Network 10.30.0.0/31 too small to allocate from'],
    [{ subnet: '10.30.0.0/32' }, 'too small'],
    [{ subnet: 'fd00::/127' }, 'too small'],
    [{ subnet: '10.30.0.5/24' }, 'Network has host bits set. For a subnet mask of length 24 the network address is 10.30.0.0'],
    [{ subnet: '10.30.0.0/24', rangeStart: '10.31.0.1' }, 'RangeStart 10.31.0.1 not in network 10.30.0.0/24'],
    [{ subnet: '10.30.0.0/24', rangeEnd: '10.31.0.1' }, 'RangeEnd 10.31.0.1 not in network'],
    [{ subnet: '10.30.0.0/24', rangeStart: '10.30.0.9', rangeEnd: '10.30.0.2' }, 'is after RangeEnd'],
    [{ subnet: '10.30.0.0/24', gateway: 'fd00::1' }, 'address family'],
    [{ subnet: '10.30.0.0/24', gateway: 'x' }, 'is not an IP address'],
    [{ subnet: 'nope' }, 'is not a CIDR'],
    [{ subnet: '' }, 'subnet is required'],
  ])('rejects %j', (spec, msg) => expect(() => canonicalizeRange(spec)).toThrow(msg));

  it('rejects mixed families and overlaps inside a set', () => {
    expect(() => canonicalizeRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }])).toThrow('mixed address families');
    expect(() => canonicalizeRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }])).toThrow('overlap');
    expect(() => canonicalizeRangeSet([])).toThrow('empty range set');
  });

  it('counts usable addresses without the gateway', () => {
    expect(rangeSetSize(canonicalizeRangeSet([{ subnet: '10.0.0.0/28' }]))).toBe(13n);
    expect(rangeSetSize(canonicalizeRangeSet([{ subnet: '10.0.0.0/28', rangeStart: '10.0.0.5' }]))).toBe(10n);
  });
});
