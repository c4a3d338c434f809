// The bridge's IPv6 link-local address: present and past DAD from the first
// ADD, so the node can solicit its pods at once.
import { describe, expect, it } from 'vitest';
import { parseBridgeConf } from '../../plugin/netconf.ts';
import { eui64LinkLocal, planHost } from '../../plugin/plan.ts';
import { type Cidr, formatCidr, parseCidr } from '../../src/net/cidr.ts';
import type { IfName, Mac } from '../../src/net/names.ts';
import type { LinkState, Netns } from '../../src/sys/kernel.ts';

const cidr = (s: string): Cidr => parseCidr(s)!;

describe("the bridge's IPv6 link-local address", () => {
  it('is the one the kernel derives from the MAC (modified EUI-64)', () => {
    expect(formatCidr(eui64LinkLocal('52:54:00:12:34:56'))).toBe('fe80::5054:ff:fe12:3456/64');
    expect(formatCidr(eui64LinkLocal('02:00:00:00:00:01'))).toBe('fe80::ff:fe00:1/64');
  });

  it('is added without DAD to a bridge that has none yet, when the bridge gets an IPv6 gateway', () => {
    const conf = parseBridgeConf({ cniVersion: '1.0.0', name: 'n', type: 'flatnet', bridge: 'br0', isGateway: true }, '');
    const netns: Netns = { path: '/var/run/netns/p', fd: 3 };
    const names = { hostVeth: 'veth01010101' as IfName, hostMac: '02:00:00:00:00:02' as Mac, podMac: '02:00:00:00:00:03' as Mac };
    const br: LinkState = { name: 'br0', ifindex: 3, kind: 'bridge', mac: '52:54:00:12:34:56', up: false, promisc: false, addrs: [] };
    const l3 = (gws: string[]) => ({ addrs: [], routes: [], bridgeAddrs: gws.map(cidr) });
    const ll = (b: LinkState, gws: string[]) => planHost(conf, 'eth0' as IfName, netns, b, l3(gws), names).bridge.filter((o) => o.op === 'addr-replace' && o.addr.value >> 112n === 0xfe80n);
    expect(ll(br, ['10.0.0.1/24', 'fd00::1/64'])).toEqual([{ op: 'addr-replace', dev: 'br0', addr: cidr('fe80::5054:ff:fe12:3456/64'), nodad: true }]);
    expect(ll(br, ['10.0.0.1/24'])).toEqual([]);
    expect(ll({ ...br, addrs: [{ cidr: cidr('fe80::1/64'), scope: 'link' }] }, ['fd00::1/64'])).toEqual([]);
  });
});
