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
  // IPv6 by hand, against ipaddr.js as the oracle: groups biased toward zero, so runs of zeros (and ties) are common.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(1, 0xffff, 0x10, 0xabc));
  const v6bytes = fc.array(group, { minLength: 8, maxLength: 8 }).map((gs) => gs.flatMap((x) => [x >> 8, x & 255]));
  it('prints IPv6 exactly as ipaddr.js (RFC 5952), and parses its own output back', () => {
    fc.assert(
      fc.property(v6bytes, (bytes) => {
        const value = bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);
        const text = formatIp({ family: 6, value });
        expect(text).toBe(ipaddr.fromByteArray(bytes).toString());
        expect(parseIp(text)).toEqual({ family: 6, value });
      }),
      { numRuns: 5000 },
    );
  });
  it('parses IPv6 text exactly as ipaddr.js does (valid or not, and to the same address), zones refused', () => {
    const hexGroup = fc.oneof(fc.integer({ min: 0, max: 0xffff }).map((x) => x.toString(16)), fc.constantFrom('0', '00', '0000', '00000', 'FFFF', 'fFfF', 'g', '', '12345'));
    const quad = fc.oneof(fc.ipV4(), fc.constantFrom('1.2.3', '256.1.1.1', '01.2.3.4'));
    const text = fc.oneof(
      fc.ipV6(),
      fc.tuple(fc.array(hexGroup, { maxLength: 9 }), fc.boolean(), fc.array(hexGroup, { maxLength: 9 }), fc.option(quad)).map(([a, dbl, b, q]) => `${a.join(':')}${dbl ? '::' : a.length && b.length ? ':' : ''}${b.join(':')}${q ? `${b.length || dbl ? (b.length ? ':' : '') : ':'}${q}` : ''}`),
      fc.constantFrom('::', ':::', '::1::', '1::2::3', ':1::2', '1::2:', '::ffff:1.2.3.4', '64:ff9b::192.0.2.1', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:1.2.3.4', 'fe80::1%eth0'),
    );
    fc.assert(
      fc.property(text, (t) => {
        // Where ipaddr.js is laxer than Go, Go's rule: an embedded IPv4 octet with a leading zero ("::01.2.3.4",
        // which ipaddr.js even maps to ::ffff:1.2.3.4) is refused, as Go's ParseIP does.
        const last = t.slice(t.lastIndexOf(':') + 1);
        const goRefuses = t.includes('%') || (last.includes('.') && /(^|\.)0\d/.test(last));
        let want = !goRefuses && ipaddr.IPv6.isValid(t) ? ipaddr.IPv6.parse(t).toByteArray().reduce((v, b) => (v << 8n) | BigInt(b), 0n) : undefined;
        // ipaddr.js rewrites the IPv4-compatible form "::a.b.c.d" into ::ffff:a.b.c.d; RFC 4291 and Go read ::a.b.c.d.
        const compat = /^::(\d+\.\d+\.\d+\.\d+)$/.exec(t);
        if (compat && want !== undefined) want = parseIp(compat[1]!)!.value;
        const got = parseIp(t);
        if (t.includes('.') && !t.includes(':')) return; // IPv4 text: the test above
        expect(got?.value, t).toBe(want);
      }),
      { numRuns: 10000 },
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
