import { describe, expect, it } from 'vitest';
import { parseIpamConfig, parseResolvConf } from '../../ipam/config.ts';
import { parseBridgeConf } from '../../plugin/netconf.ts';
import { bridgeAddrCommands, planL3, podCommands } from '../../plugin/plan.ts';
import { chainName, masqOwners, masqRules, teardownRules } from '../../src/sys/ipmasq.ts';
import { formatIp } from '../../src/net/cidr.ts';

const base = { cniVersion: '1.0.0', name: 'net', type: 'flatnet' };

describe('ipam config', () => {
  it('orders runtime ipRanges, the legacy subnet, then ranges; reads requested IPs from all three sources', () => {
    const c = parseIpamConfig(
      {
        ...base,
        ipam: { type: 'flatnet-ipam', subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.2.0.0/24' }]] },
        runtimeConfig: { IPRanges: [[{ Subnet: '10.3.0.0/24' }]], ips: ['10.2.0.9/24'] },
        args: { cni: { ips: ['10.1.0.8'] } },
      },
      'IgnoreUnknown=1;IP=10.3.0.7;K8S_POD_NAME=x',
    );
    expect(c.rangeSets.map((s) => formatIp(s[0]!.subnet))).toEqual(['10.3.0.0', '10.1.0.0', '10.2.0.0']);
    expect(c.requested.map(formatIp)).toEqual(['10.3.0.7', '10.1.0.8', '10.2.0.9']);
    expect(c.dataDir).toBe('/var/lib/cni/networks');
  });

  it.each([
    [{}, "IPAM config missing 'ipam' key"],
    [{ ipam: { type: 'x' } }, 'no IP ranges specified'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/31' }]] } }, 'invalid range set 0: Network 10.0.0.0/31 too small'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]] } }, 'range set 0 overlaps with 1'],
    [{ ipam: { ranges: [{ subnet: '10.0.0.0/24' }] } }, 'must be a list of ranges'],
    [{ ipam: { ranges: [[{ subnet: 5 }]] } }, 'ipam.ranges[0][0].subnet must be a string'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: 'x' }] } }, 'ipam.routes[0].dst must be a CIDR'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }]] }, runtimeConfig: { ips: ['nope'] } }, 'runtimeConfig.ips: "nope" is not an IP address'],
  ])('rejects %j', (extra, msg) => {
    expect(() => parseIpamConfig({ ...base, ...extra }, '')).toThrow(msg);
  });

  it('reads resolv.conf like host-local', () => {
    expect(parseResolvConf('# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\ndomain a\nsearch b c\noptions ndots:5\n; x\n')).toEqual({
      nameservers: ['1.1.1.1', '8.8.8.8'],
      domain: 'a',
      search: ['b', 'c'],
      options: ['ndots:5'],
    });
  });
});

describe('bridge config', () => {
  it('uses the Go defaults and field names', () => {
    const c = parseBridgeConf({ ...base, isDefaultGateway: 'true', ipam: { type: 'flatnet-ipam' } }, '');
    expect(c).toMatchObject({ bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: false, ipamType: 'flatnet-ipam' });
  });
  it('takes the MAC from runtimeConfig over args over CNI_ARGS', () => {
    expect(parseBridgeConf({ ...base, runtimeConfig: { mac: '02:00:00:00:00:01' }, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:01');
    expect(parseBridgeConf({ ...base, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:02');
    expect(parseBridgeConf(base, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:03');
  });
  it.each([
    [{ hairpinMode: true, promiscMode: true }, 'cannot set hairpin mode and promiscuous mode at the same time'],
    [{ bridge: 'a-very-long-bridge-name' }, 'is not a valid interface name'],
    [{ mtu: -1 }, 'mtu must be an integer'],
    [{ vlan: 100 }, 'unsupported field "vlan"'],
    [{ runtimeConfig: { mac: 'zz' } }, 'invalid MAC address'],
    [{ runtimeConfig: { mac: '01:00:00:00:00:01' } }, 'multicast'],
    [{ isGateway: 'yes' }, 'isGateway must be a boolean'],
  ])('rejects %j', (extra, msg) => expect(() => parseBridgeConf({ ...base, ...extra }, '')).toThrow(msg));
});

describe('ADD planning', () => {
  const conf = parseBridgeConf({ ...base, bridge: 'br0', isDefaultGateway: true, ipam: { type: 'x' } }, '');
  it('derives gateways, bridge addresses and one default route per family', () => {
    const p = planL3(conf, { cniVersion: '1.1.0', ips: [{ address: '10.0.0.5/24' }, { address: 'fd00::5/64', gateway: 'fd00::1' }], routes: [{ dst: '0.0.0.0/0' }] });
    expect(p.ips).toEqual([
      { interface: 2, address: '10.0.0.5/24', gateway: '10.0.0.1' },
      { interface: 2, address: 'fd00::5/64', gateway: 'fd00::1' },
    ]);
    expect(p.bridgeAddrs).toEqual(['10.0.0.1/24', 'fd00::1/64']);
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }]);
    expect(podCommands('eth0', p, false)).toEqual([
      'addr add 10.0.0.5/24 dev eth0',
      'addr add fd00::5/64 dev eth0 nodad',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.0.0.1 dev eth0',
      'route add ::/0 via fd00::1 dev eth0',
    ]);
  });
  it('fails without IPs', () => expect(() => planL3(conf, { cniVersion: '1.1.0' })).toThrow('IPAM plugin returned missing IP config'));
  it('refuses a different bridge address unless forceAddress', () => {
    const have = [{ family: 'inet' as const, local: '10.9.0.1', prefixlen: 24, scope: 'global' }];
    expect(() => bridgeAddrCommands(conf, have, ['10.0.0.1/24'])).toThrow('"br0" already has an IP address different from 10.0.0.1/24');
    expect(bridgeAddrCommands({ ...conf, forceAddress: true }, have, ['10.0.0.1/24'])).toEqual(['addr del 10.9.0.1/24 dev br0', 'addr replace 10.0.0.1/24 dev br0']);
    expect(bridgeAddrCommands(conf, [{ ...have[0]!, local: '10.0.0.1' }], ['10.0.0.1/24'])).toEqual(['addr replace 10.0.0.1/24 dev br0']);
  });
});

describe('masquerade rules', () => {
  it('names chains like the Go plugin', () => {
    expect(chainName('fnt', 'c1')).toMatch(/^CNI-[0-9a-f]{24}$/);
    expect(chainName('fnt', 'c1')).toBe('CNI-3412815dd4def3df44a6dde7');
  });
  it('round-trips through an iptables-save dump: owners are found and torn down', () => {
    const rules = masqRules('net', 'c1', ['10.0.0.5/24'], 4);
    const chain = chainName('net', 'c1');
    const saved = rules.replace(`:${chain} - [0:0]`, `:POSTROUTING ACCEPT [0:0]\n:${chain} - [0:0]`);
    expect(masqOwners(saved, 'net')).toEqual(new Map([[chain, 'c1']]));
    expect(masqOwners(saved, 'other').size).toBe(0);
    const down = teardownRules(saved, new Set([chain]))!;
    expect(down).toContain(`-D POSTROUTING -s 10.0.0.5/32 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j ${chain}`);
    expect(down).toContain(`-X ${chain}`);
    expect(teardownRules('*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n', new Set([chain]))).toBeUndefined();
  });
});
