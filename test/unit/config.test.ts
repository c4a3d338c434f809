import { describe, expect, it } from 'vitest';
import { parseIpamConfig, parseResolvConf } from '../../ipam/config.ts';
import { parseBridgeConf } from '../../plugin/netconf.ts';
import { addResult, bridgeAddrOps, planHost, planL3, planPod } from '../../plugin/plan.ts';
import { chainName, masqRules, networkChains, ruleComment, teardownRules } from '../../src/sys/masq-iptables.ts';
import { formatCidr, formatIp, parseCidr } from '../../src/net/cidr.ts';
import { ipLine } from '../../src/sys/ip-batch.ts';
import type { IfName, Mac } from '../../src/net/names.ts';
import type { LinkOp } from '../../src/sys/kernel.ts';
import { RecordingKernel } from '../fakes/recording-kernel.ts';

const lines = (ops: LinkOp[]): string[] => ops.map((o) => ipLine(o, 1));
const cidr = (s: string) => parseCidr(s)!;

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
    expect(c).toMatchObject({ bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: false, ipam: { type: 'flatnet-ipam', cniVersion: '1.0.0' } });
  });
  it('takes the MAC from runtimeConfig over args over CNI_ARGS', () => {
    expect(parseBridgeConf({ ...base, runtimeConfig: { mac: '02:00:00:00:00:01' }, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:01');
    expect(parseBridgeConf({ ...base, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:02');
    expect(parseBridgeConf(base, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:03');
  });
  it.each([
    [{ hairpinMode: true, promiscMode: true }, 'cannot set hairpin mode and promiscuous mode at the same time'],
    [{ bridge: 'a-very-long-bridge-name' }, 'bridge "a-very-long-bridge-name": interface name is too long'],
    [{ bridge: 'br#0' }, "contains '#'"],
    [{ ipMasqBackend: 'pf' }, 'ipMasqBackend must be "iptables" or "nftables"'],
    [{ mtu: -1 }, 'mtu must be an integer'],
    [{ vlan: 100 }, 'needs bridge VLAN filtering'],
    [{ runtimeConfig: { mac: 'zz' } }, 'invalid MAC address'],
    [{ runtimeConfig: { mac: '01:00:00:00:00:01' } }, 'multicast'],
    [{ isGateway: 'yes' }, 'isGateway must be a boolean'],
    [{ macspoofchk: 1 }, 'macspoofchk must be a boolean'],
    [{ vlanTrunk: [{ id: 0 }] }, 'incorrect trunk id parameter'],
    [{ vlanTrunk: [{ minID: 4095, maxID: 4095 }] }, 'incorrect trunk minID parameter'],
    [{ vlanTrunk: [{ minID: 1, maxID: 4095 }] }, 'incorrect trunk maxID parameter'],
    [{ vlanTrunk: [{ maxID: 5 }] }, 'minID is missing'],
    [{ vlanTrunk: [{ minID: 6, maxID: 5 }] }, 'minID is greater than maxID'],
    [{ vlanTrunk: ['x'] }, 'vlanTrunk[0] must be an object'],
  ])('rejects %j', (extra, msg) => expect(() => parseBridgeConf({ ...base, ...extra }, '')).toThrow(msg));
  it("reads vlanTrunk as Go's collectVlanTrunk: ids and ranges, merged and sorted; ignored with a warning", () => {
    const c = parseBridgeConf({ ...base, vlanTrunk: [{ id: 30 }, { minID: 10, maxID: 12 }, { ID: 11 }] }, '');
    expect(c.vlanTrunk).toEqual([10, 11, 12, 30]);
    expect(c.warnings.join()).toMatch(/vlanTrunk ignored/);
    expect(parseBridgeConf({ ...base, vlanTrunk: [] }, '').warnings).toEqual([]);
  });
  it('leaves an L2-only pod interface down with disableContainerInterface; with an IPAM ignores it, as Go 1.1.1', () => {
    const l2 = parseBridgeConf({ ...base, disableContainerInterface: true }, '');
    expect(l2.disableContainerInterface).toBe(true);
    expect(planPod('eth0' as IfName, undefined, false, l2.disableContainerInterface).ops).toEqual([]);
    const l3 = parseBridgeConf({ ...base, disableContainerInterface: true, ipam: { type: 'x' } }, '');
    expect(l3.disableContainerInterface).toBe(false);
    expect(l3.warnings.join()).toMatch(/disableContainerInterface ignored/);
  });
});

describe('ADD planning', () => {
  const conf = parseBridgeConf({ ...base, bridge: 'br0', isDefaultGateway: true, ipam: { type: 'x' } }, '');
  it('derives gateways, bridge addresses and one default route per family', () => {
    const ipam = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.5/24' }, { address: 'fd00::5/64', gateway: 'fd00::1' }], routes: [{ dst: '0.0.0.0/0' }] };
    const p = planL3(conf, ipam);
    const names = { hostVeth: 'veth1' as IfName, hostMac: '02:00:00:00:00:01' as Mac, podMac: '02:00:00:00:00:02' as Mac };
    const r = addResult(conf, 'eth0' as IfName, { path: '/x', fd: 9 }, 'aa:bb:cc:dd:ee:ff', names, p, ipam, '1.1.0');
    expect(r.ips).toEqual([
      { interface: 2, address: '10.0.0.5/24', gateway: '10.0.0.1' },
      { interface: 2, address: 'fd00::5/64', gateway: 'fd00::1' },
    ]);
    expect(p.bridgeAddrs.map(formatCidr)).toEqual(['10.0.0.1/24', 'fd00::1/64']);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }]);
    const pod = planPod('eth0' as IfName, p, false);
    expect(pod.sysctls.map((s) => `${s.key}=${s.value}`)).toEqual(['net/ipv4/conf/eth0/arp_notify=1', 'net/ipv6/conf/eth0/disable_ipv6=0', 'net/ipv6/conf/eth0/accept_dad=0']);
    // What the pod ends up with, on the recording kernel's model of links, addresses and routes.
    const k = new RecordingKernel();
    k.addLink('/pod', { name: 'eth0', kind: 'veth' });
    k.apply(pod.ops, { path: '/pod', fd: 9 });
    const eth0 = k.state.get('/pod')!.get('eth0')!;
    expect(eth0.up).toBe(true);
    expect(eth0.addrs.map((a) => formatCidr(a.cidr))).toEqual(['10.0.0.5/24', 'fd00::5/64']);
    expect(k.routesByNs.get('/pod')!.map((rt) => `${formatCidr(rt.dst)} via ${rt.via ? formatIp(rt.via) : '-'} dev ${rt.dev}`).sort()).toEqual(['0.0.0.0/0 via 10.0.0.1 dev eth0', '::/0 via fd00::1 dev eth0']);
    // IPv6 usable at once: no duplicate address detection unless enabledad.
    expect(pod.ops.some((o) => o.op === 'addr-add' && o.addr.family === 6 && o.nodad)).toBe(true);
  });
  it('adds routes beside what the pod has, as Go does, and a route the IPAM lists twice once', () => {
    const p = planL3(conf, { cniVersion: '1.1.0', ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1' }], routes: [{ dst: '0.0.0.0/0' }, { dst: '0.0.0.0/0', gw: '10.0.0.1', priority: 0, table: 254 }, { dst: '10.9.0.0/16' }] });
    expect(lines(planPod('eth0' as IfName, p, false).ops).filter((l) => l.startsWith('route'))).toEqual(['route prepend 0.0.0.0/0 via 10.0.0.1 dev "eth0"', 'route prepend 10.9.0.0/16 via 10.0.0.1 dev "eth0"']);
  });
  it('fails without IPs', () => expect(() => planL3(conf, { cniVersion: '1.1.0' })).toThrow('IPAM plugin returned missing IP config'));
  it.each([
    [{ ips: [{ address: '10.0.0.5' }] }, 'invalid address'],
    [{ ips: [{ address: '10.0.0.5/24\nlink add x type bridge' }] }, 'invalid address'],
    [{ ips: [{ address: '10.0.0.5/24', gateway: 'fd00::1' }] }, 'invalid gateway'],
    [{ ips: [{ address: '10.0.0.5/24' }], routes: [{ dst: 'default' }] }, 'invalid route destination'],
    [{ ips: [{ address: '10.0.0.5/24' }], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1 dev lo' }] }, 'invalid route gateway'],
  ])('refuses an IPAM result it cannot type: %j', (r, msg) => expect(() => planL3(conf, { cniVersion: '1.1.0', ...r })).toThrow(msg));
  it('touches the bridge only for what is not so already: up, its gateway, its MAC pinned', () => {
    const l3 = planL3(conf, { cniVersion: '1.1.0', ips: [{ address: '10.0.0.5/24' }] });
    const names = { hostVeth: 'veth1' as IfName, hostMac: '02:00:00:00:00:01' as Mac, podMac: '02:00:00:00:00:02' as Mac };
    const bridgeLines = (br: object) => lines(planHost(conf, 'eth0' as IfName, { path: '/p', fd: 5 }, { name: 'br0', ifindex: 3, up: true, promisc: false, mac: '02:aa:aa:aa:aa:aa', addrs: [], ...br }, l3, names).bridge);
    const gw = { cidr: cidr('10.0.0.1/24'), scope: 'global' };
    expect(bridgeLines({ addrs: [gw], macSet: true })).toEqual([]);
    expect(bridgeLines({ addrs: [gw, { cidr: cidr('fe80::1/64'), scope: 'link' }], macSet: true })).toEqual([]);
    expect(bridgeLines({ up: false, addrs: [gw], macSet: true })).toEqual(['link set dev "br0" up']);
    expect(bridgeLines({ macSet: true })).toEqual(['addr replace 10.0.0.1/24 brd + dev "br0"']);
    // Unknown (sysfs of another namespace) or not set: pinned, as before.
    expect(bridgeLines({ addrs: [gw] })).toEqual(['link set dev "br0" address 02:aa:aa:aa:aa:aa']);
    expect(bridgeLines({ addrs: [gw], macSet: false })).toEqual(['link set dev "br0" address 02:aa:aa:aa:aa:aa']);
    // Our gateway beside other addresses, listed before or after it: they stay, nothing to do.
    expect(bridgeLines({ addrs: [gw, { cidr: cidr('169.254.20.10/32'), scope: 'global' }], macSet: true })).toEqual([]);
    expect(bridgeLines({ addrs: [{ cidr: cidr('10.9.0.1/24'), scope: 'global' }, gw], macSet: true })).toEqual([]);
    // Without our gateway, another IPv4 address is still a conflict, as in Go.
    expect(() => bridgeLines({ addrs: [{ cidr: cidr('169.254.20.10/32'), scope: 'global' }], macSet: true })).toThrow('already has an IP address different');
  });
  it('refuses a different bridge address unless forceAddress', () => {
    const have = [{ cidr: cidr('10.9.0.1/24'), scope: 'global' }];
    expect(() => bridgeAddrOps(conf, have, [cidr('10.0.0.1/24')])).toThrow('"br0" already has an IP address different from 10.0.0.1/24');
    expect(lines(bridgeAddrOps({ ...conf, forceAddress: true }, have, [cidr('10.0.0.1/24')]))).toEqual(['addr del 10.9.0.1/24 dev "br0"', 'addr replace 10.0.0.1/24 brd + dev "br0"']);
    expect(lines(bridgeAddrOps(conf, [{ cidr: cidr('10.0.0.1/24'), scope: 'global' }], [cidr('10.0.0.1/24')]))).toEqual([]);
  });
});

describe('masquerade rules', () => {
  it('names chains like the Go plugin', () => {
    expect(chainName('fnt', 'c1')).toMatch(/^CNI-[0-9a-f]{24}$/);
    expect(chainName('fnt', 'c1')).toBe('CNI-3412815dd4def3df44a6dde7');
  });
  it('round-trips through an iptables-save dump: the chains of the network are found and torn down', () => {
    const rules = masqRules('net', 'c1', [cidr('10.0.0.5/24')], 4);
    const chain = chainName('net', 'c1');
    const saved = rules.replace(`:${chain} - [0:0]`, `:POSTROUTING ACCEPT [0:0]\n:${chain} - [0:0]`);
    expect(networkChains(saved, 'net')).toEqual(new Set([chain]));
    expect(networkChains(saved, 'ne').size).toBe(0);
    expect(networkChains(saved, 'other').size).toBe(0);
    const down = teardownRules(saved, new Set([chain]))!;
    expect(down).toContain(`-D POSTROUTING -s 10.0.0.5/32 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j ${chain}`);
    expect(down).toContain(`-X ${chain}`);
    expect(teardownRules('*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n', new Set([chain]))).toBeUndefined();
  });
  it('with a choice of sources, removes only those jumps and keeps a chain another interface of the container still uses', () => {
    const only = (...srcs: string[]) => (src: string | undefined) => src !== undefined && srcs.includes(src);
    const chain = chainName('net', 'c1');
    // eth0 (10.0.0.5) and net1 (10.0.0.6) of one container: one chain, two jumps.
    const both = masqRules('net', 'c1', [cidr('10.0.0.5/24'), cidr('10.0.0.6/24')], 4).replace(`:${chain} - [0:0]`, `:POSTROUTING ACCEPT [0:0]\n:${chain} - [0:0]`);
    const one = teardownRules(both, new Set([chain]), only('10.0.0.6/32'))!;
    expect(one.split('\n').filter((l) => l.startsWith('-'))).toEqual([`-D POSTROUTING -s 10.0.0.6/32 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j ${chain}`]);
    const last = teardownRules(both, new Set([chain]), only('10.0.0.5/32', '10.0.0.6/32'))!;
    expect(last).toContain(`-X ${chain}`);
    expect(teardownRules(both, new Set([chain]), only('10.0.0.9/32'))).toBeUndefined();
  });
  it('cuts a long comment to the 255 bytes iptables keeps and still finds the chain by network', () => {
    const id = 'a'.repeat(253);
    expect(ruleComment('net', id)).toHaveLength(255);
    const saved = masqRules('net', id, [cidr('10.0.0.5/24')], 4);
    expect(networkChains(saved, 'net')).toEqual(new Set([chainName('net', id)]));
    const longNet = 'n'.repeat(253);
    expect(networkChains(masqRules(longNet, 'c', [cidr('10.0.0.5/24')], 4), longNet)).toEqual(new Set([chainName(longNet, 'c')]));
  });
});
