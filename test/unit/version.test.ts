import { describe, expect, it } from 'vitest';
import { convertResult, SUPPORTED_VERSIONS, toCurrent } from '../../src/cni/version.ts';
import type { Result } from '../../src/cni/types.ts';

const full: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'cni0', mac: '02:00:00:00:00:01' }, { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/run/netns/p', mtu: 1400 }],
  ips: [
    { interface: 1, address: '10.0.0.2/24', gateway: '10.0.0.1' },
    { interface: 1, address: 'fd00::2/64', gateway: 'fd00::1' },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0' }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

const FULL_SHAPE = SUPPORTED_VERSIONS.filter((v) => !v.startsWith('0.1') && !v.startsWith('0.2'));

describe('result conversion', () => {
  for (const from of FULL_SHAPE) {
    for (const to of FULL_SHAPE) {
      it(`${from} -> ${to} keeps addresses, routes, interfaces and dns`, () => {
        const wire = convertResult(toCurrent(convertResult(full, from), from), to) as Record<string, any>;
        expect(wire.cniVersion).toBe(to);
        expect(wire.ips.map((i: any) => i.address)).toEqual(['10.0.0.2/24', 'fd00::2/64']);
        expect(wire.ips.map((i: any) => i.interface)).toEqual([1, 1]);
        expect(wire.routes).toEqual(full.routes);
        expect(wire.dns).toEqual(full.dns);
        const legacy = to.startsWith('0.');
        expect(wire.ips.map((i: any) => i.version)).toEqual(legacy ? ['4', '6'] : [undefined, undefined]);
        // mtu exists on interfaces only since 1.1.0's types (kept in 1.x, dropped for 0.x)
        expect(wire.interfaces[1].mtu).toBe(legacy || from.startsWith('0.') ? undefined : 1400);
      });
    }
  }

  it('gives 0.1.0 and 0.2.0 the shape Go gives them: the first address per family with its routes, dns always', () => {
    for (const v of ['0.1.0', '0.2.0']) {
      const wire = convertResult({ ...full, ips: [...full.ips!, { interface: 1, address: '10.0.0.3/24' }] }, v);
      expect(wire).toEqual({
        cniVersion: v,
        ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] },
        ip6: { ip: 'fd00::2/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
        dns: full.dns,
      });
      // Read back (an exec'd IPAM answering a 0.2.0 config): the same addresses and routes.
      const back = toCurrent(wire, v);
      expect(back.ips).toEqual([{ address: '10.0.0.2/24', gateway: '10.0.0.1' }, { address: 'fd00::2/64', gateway: 'fd00::1' }]);
      expect(back.routes).toEqual(full.routes);
    }
    expect(convertResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] }, '0.2.0')).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' }, dns: {} });
  });

  it('omits empty dns, routes and interfaces', () => {
    expect(convertResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }], dns: {} }, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
  });

  it('assumes the config version when a result has none, and rejects unknown versions', () => {
    expect(toCurrent({ ips: [{ version: '4', address: '10.0.0.2/24' }] }, '0.4.0').ips).toEqual([{ address: '10.0.0.2/24' }]);
    expect(() => toCurrent({ cniVersion: '0.9.0' }, '1.0.0')).toThrow('unsupported CNI result version "0.9.0"');
    expect(() => toCurrent({ ips: [{ address: '10.0.0.2' }] }, '1.0.0')).toThrow('must be a CIDR');
  });
});
