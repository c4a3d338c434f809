// Property-based pass over config parsing: whatever JSON a runtime sends, the
// parsers either return a config or throw a CniError, never anything else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpamConfig } from '../../ipam/config.ts';
import { parseBridgeConf } from '../../plugin/netconf.ts';
import { decodeConf } from '../../src/cni/skel.ts';
import { parseCniArgs } from '../../src/cni/args.ts';
import { toCurrent } from '../../src/cni/version.ts';
import { CniError } from '../../src/cni/errors.ts';

const onlyCniErrors = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch (e) {
    return e instanceof CniError && Number.isInteger(e.code) && e.message.length > 0;
  }
};

// Values shaped like configs: right keys, arbitrary values.
const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.ipV4(), fc.ipV6(), fc.constantFrom('10.0.0.0/24', 'fd00::/64', '10.0.0.1/33', '0.0.0.0/0'));
const range = fc.record({ subnet: value, rangeStart: value, rangeEnd: value, gateway: value }, { requiredKeys: [] });
const ipam = fc.record(
  {
    type: value,
    subnet: value,
    ranges: fc.oneof(value, fc.array(fc.oneof(value, fc.array(fc.oneof(range, value), { maxLength: 3 })), { maxLength: 3 })),
    routes: fc.oneof(value, fc.array(fc.oneof(value, fc.record({ dst: value, gw: value }, { requiredKeys: [] })), { maxLength: 3 })),
    dataDir: value,
  },
  { requiredKeys: [] },
);
const conf = fc.record(
  {
    cniVersion: fc.oneof(value, fc.constantFrom('0.3.1', '0.4.0', '1.0.0', '1.1.0')),
    name: fc.oneof(value, fc.constant('net')),
    bridge: value,
    isGateway: value,
    isDefaultGateway: value,
    mtu: value,
    hairpinMode: value,
    promiscMode: value,
    ipMasq: value,
    vlan: value,
    dns: fc.oneof(value, fc.record({ nameservers: fc.oneof(value, fc.array(value)) }, { requiredKeys: [] })),
    ipam: fc.oneof(value, ipam),
    runtimeConfig: fc.oneof(value, fc.record({ mac: value, ips: fc.oneof(value, fc.array(value)), ipRanges: fc.oneof(value, fc.array(fc.array(range))) }, { requiredKeys: [] })),
    args: fc.oneof(value, fc.record({ cni: fc.oneof(value, fc.record({ ips: fc.oneof(value, fc.array(value)), mac: value }, { requiredKeys: [] })) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);

describe('config parsing never throws anything but a CniError', () => {
  it('decodeConf on arbitrary bytes', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (s) => onlyCniErrors(() => decodeConf(s, 'ADD'))), { numRuns: 2000 });
  });
  it('bridge and IPAM configs of config-like shape', () => {
    fc.assert(
      fc.property(conf, fc.string(), (c, cniArgs) =>
        onlyCniErrors(() => {
          const base = decodeConf(JSON.stringify(c), 'ADD');
          parseBridgeConf(base, cniArgs);
          parseIpamConfig(base, cniArgs);
        }),
      ),
      { numRuns: 3000 },
    );
  });
  it('CNI_ARGS strings', () => {
    fc.assert(fc.property(fc.string(), (s) => onlyCniErrors(() => parseCniArgs(s, ['IP', 'MAC']))), { numRuns: 2000 });
  });
  it('prevResults of any shape', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => onlyCniErrors(() => toCurrent(v, '1.0.0'))), { numRuns: 2000 });
  });
  // onlyCniErrors is true for a CniError too: a valid config must parse, and to what it says.
  it('finds nothing wrong with a valid config', () => {
    const base = decodeConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'flatnet', bridge: 'br9', ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.0.0.0/24' }]] } }), 'ADD');
    expect(parseIpamConfig(base, '').rangeSets.map((s) => s.length)).toEqual([1]);
    expect(parseBridgeConf(base, '')).toMatchObject({ name: 'n', bridge: 'br9' });
  });
  it('tells a CniError from any other throw', () => {
    expect(onlyCniErrors(() => undefined)).toBe(true);
    expect(onlyCniErrors(() => parseIpamConfig({ cniVersion: '1.0.0', name: 'n', ipam: { ranges: 'x' } }, ''))).toBe(true);
    expect(onlyCniErrors(() => JSON.parse('{'))).toBe(false);
  });
});
