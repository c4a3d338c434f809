import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { collapseCidrs, contains, formatCidr, formatIp, lastOf, networkOf, overlaps, parseCidr, parseIp } from '../../src/net/cidr.ts';

describe('cidr', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['fd00:22:0:0::2', 'fd00:22::2'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
  ])('parses and prints %s canonically', (s, want) => expect(formatIp(parseIp(s)!)).toBe(want));

  it.each(['10.1', '0x0a.0.0.1', '300.1.1.1', '', 'abc', '10.0.0.1/24', 'fd00::11%eth0', 'fe80::1%1', 'fd00::/64%eth0'])('rejects %j as an IP', (s) => expect(parseIp(s)).toBeUndefined());
  it.each(['01.2.3.4', '1.2.3.04', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.4 ', '-1.2.3.4', '1..2.3'])('rejects the dotted quad %j as Go does', (s) => expect(parseIp(s)).toBeUndefined());

  it('parses IPv4 by hand exactly as ipaddr.js four-part decimal does, and prints it back', () => {
    const quad = fc.oneof(fc.ipV4(), fc.array(fc.oneof(fc.nat(300).map(String), fc.constantFrom('00', '01', '010', '')), { minLength: 3, maxLength: 5 }).map((p) => p.join('.')));
    fc.assert(
      fc.property(quad, (s) => {
        const ok = ipaddr.IPv4.isValidFourPartDecimal(s);
        const got = parseIp(s);
        expect(got !== undefined).toBe(ok);
        if (got) expect(formatIp(got)).toBe(ipaddr.IPv4.parse(s).toString());
      }),
      { numRuns: 3000 },
    );
  });
  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/x', 'fd00::/129', 'fd00::%eth0/64'])('rejects %j as a CIDR', (s) => expect(parseCidr(s)).toBeUndefined());

  it('computes network, last address and containment', () => {
    const c = parseCidr('10.22.3.77/24')!;
    expect(formatCidr(networkOf(c))).toBe('10.22.3.0/24');
    expect(formatIp(lastOf(c))).toBe('10.22.3.255');
    expect(contains(c, parseIp('10.22.3.1')!)).toBe(true);
    expect(contains(c, parseIp('10.22.4.1')!)).toBe(false);
    expect(contains(c, parseIp('fd00::1')!)).toBe(false);
    expect(formatIp(lastOf(parseCidr('fd00::/64')!))).toBe('fd00::ffff:ffff:ffff:ffff');
  });

  it('detects overlap in both directions and never across families', () => {
    expect(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.1.0.0/16')!)).toBe(true);
    expect(overlaps(parseCidr('10.1.0.0/16')!, parseCidr('10.0.0.0/8')!)).toBe(true);
    expect(overlaps(parseCidr('10.1.0.0/16')!, parseCidr('10.2.0.0/16')!)).toBe(false);
    expect(overlaps(parseCidr('0.0.0.0/0')!, parseCidr('::/0')!)).toBe(false);
  });

  it('collapses CIDRs contained in wider ones, keeping input order', () => {
    expect(collapseCidrs(['10.244.1.0/24', '10.200.0.11/32', '10.244.0.0/16', '10.200.0.0/24', 'fd00::/64', '10.200.0.12/32', 'bad'])).toEqual(['10.244.0.0/16', '10.200.0.0/24', 'fd00::/64']);
  });
});
