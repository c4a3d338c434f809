// ADD, DEL and their rollback through a recording kernel: what each verb does
// to the node, in order, and that a failure at any step undoes exactly what
// that ADD did (its IPAM lease, its veth, its masquerade) and nothing else.
import { describe, expect, it } from 'vitest';
import { cmdAdd } from '../../plugin/add.ts';
import { cmdDel } from '../../plugin/del.ts';
import type { OpenIpam, PluginDeps } from '../../plugin/deps.ts';
import { CniError } from '../../src/cni/errors.ts';
import type { CmdArgs, NetConfBase, Result } from '../../src/cni/types.ts';
import type { IfName } from '../../src/net/names.ts';
import { formatCidr, formatIp } from '../../src/net/cidr.ts';
import { KernelError } from '../../src/sys/kernel.ts';
import { type Call, RecordingKernel } from '../fakes/recording-kernel.ts';

const conf = (extra: object = {}): NetConfBase => ({ cniVersion: '1.0.0', name: 'net', type: 'flatnet', bridge: 'br0', isGateway: true, ipMasq: true, ipam: { type: 'flatnet-ipam' }, ...extra });
const notOpenClose = (l: string): boolean => !/(open|close) netns/.test(l);
const args = (over: Partial<CmdArgs> = {}): CmdArgs => ({ command: 'ADD', containerId: 'c1', netns: '/pod', ifName: 'eth0' as IfName, args: '', path: '/bin', stdin: '{}', env: {}, ...over });

function setup(opts: { ipamFails?: boolean; ipamRefusesConfig?: boolean; bridge?: boolean } = {}) {
  const kernel = new RecordingKernel();
  if (opts.bridge !== false) kernel.addLink('host', { name: 'br0', kind: 'bridge', mac: '02:00:00:00:00:aa', up: true });
  const ipamCalls: string[] = [];
  // Our in-process IPAM refuses a bad config when it is opened; any IPAM
  // refuses a full or duplicate pool in its ADD.
  const ipam: OpenIpam = async () => {
    if (opts.ipamRefusesConfig) throw new CniError(7, 'no IP ranges specified');
    return {
      call: async (command) => {
        ipamCalls.push(command);
        if (command === 'ADD' && opts.ipamFails) throw new CniError(102, 'duplicate');
        return command === 'ADD' ? ({ cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }], routes: [{ dst: '0.0.0.0/0' }] } satisfies Result) : undefined;
      },
    };
  };
  let n = 0;
  const deps: PluginDeps = { kernel, ipam, random: (len) => new Uint8Array(len).fill(++n), agentStatusFile: '/nonexistent' };
  return { kernel, ipamCalls, deps };
}

describe('ADD through the kernel layer', () => {
  it('leaves the pod on the bridge: veth pair, gateway on the bridge, address, link up and default route in the pod', async () => {
    const { kernel, deps } = setup();
    const r = await cmdAdd(args(), conf(), deps);
    expect(r.ips).toEqual([{ interface: 2, address: '10.1.0.5/24', gateway: '10.1.0.1' }]);
    const host = kernel.state.get('host')!;
    const pod = kernel.state.get('/pod')!;
    const hostVeth = [...host.values()].find((l) => l.kind === 'veth')!;
    expect(hostVeth).toMatchObject({ master: 'br0', up: true });
    expect(host.get('br0')!.addrs.map((a) => formatCidr(a.cidr))).toEqual(['10.1.0.1/24']);
    expect(pod.get('eth0')).toMatchObject({ kind: 'veth', up: true });
    expect(pod.get('eth0')!.addrs.map((a) => formatCidr(a.cidr))).toEqual(['10.1.0.5/24']);
    expect(kernel.routesByNs.get('/pod')!.map((rt) => `${formatCidr(rt.dst)} via ${rt.via ? formatIp(rt.via) : '-'} dev ${rt.dev}`)).toEqual(['0.0.0.0/0 via 10.1.0.1 dev eth0']);
    // What the model keeps no state of: forwarding on, the pod's ARP announcement, the masquerade.
    expect(kernel.log()).toEqual(expect.arrayContaining(['host: sysctl net/ipv4/ip_forward=1', '/pod: sysctl net/ipv4/conf/eth0/arp_notify=1', 'host: masq setup auto net c1 1']));
  });

  it('creates the bridge first when it is absent', async () => {
    const { kernel, deps } = setup({ bridge: false });
    await cmdAdd(args(), conf({ ipMasq: false }), deps);
    expect(kernel.log()[1]).toMatch(/^host: link add name "br0" address [0-9a-f:]+ type bridge$/);
    expect(kernel.log()[2]).toBe('host: sysctl net/ipv6/conf/br0/accept_ra=0');
  });

  it('a failed IPAM ADD (a repeated ADD) touches nothing and releases nothing', async () => {
    const { kernel, ipamCalls, deps } = setup({ ipamFails: true });
    await expect(cmdAdd(args(), conf(), deps)).rejects.toThrow('duplicate');
    expect(ipamCalls).toEqual(['ADD']);
    expect(kernel.log()).toEqual(['host: open netns /pod', 'host: close netns /pod']);
  });

  it('a missing netns fails with code 4 before the IPAM is asked', async () => {
    const { kernel, ipamCalls, deps } = setup();
    kernel.missingNetns.add('/pod');
    await expect(cmdAdd(args(), conf(), deps)).rejects.toMatchObject({ code: 4 });
    expect(ipamCalls).toEqual([]);
  });

  // The bridge's accept_ra is best effort, as in Go: a read-only /proc/sys does not fail the ADD.
  const ACCEPT_RA = 'sysctl net/ipv6/conf/br0/accept_ra=0';
  it('an accept_ra that cannot be written does not fail the ADD', async () => {
    const { kernel, deps } = setup();
    kernel.fail = (c: Call) => (c.what === ACCEPT_RA ? new KernelError('other', undefined, 'read-only', c.what) : undefined);
    await expect(cmdAdd(args(), conf(), deps)).resolves.toMatchObject({ ips: [{ address: '10.1.0.5/24' }] });
  });

  // Every call ADD makes after the IPAM, failed in turn.
  const steps = (() => {
    const { kernel, deps } = setup();
    return cmdAdd(args(), conf(), deps).then(() => kernel.calls.map((c) => c.what).filter(notOpenClose).filter((w) => w !== ACCEPT_RA));
  })();

  it('undoes exactly what it did when any step fails', async () => {
    const all = await steps;
    expect(all.length).toBeGreaterThan(8);
    const vethAt = all.findIndex((w) => w.startsWith('link add name "veth'));
    expect(vethAt).toBeGreaterThan(0);
    for (const [i, failing] of all.entries()) {
      const { kernel, ipamCalls, deps } = setup();
      kernel.fail = (c: Call) => (c.what === failing ? new KernelError('other', undefined, 'injected', c.what) : undefined);
      await expect(cmdAdd(args(), conf(), deps), `step ${i}: ${failing}`).rejects.toThrow('injected');
      // The lease this ADD got is released, once.
      expect(ipamCalls, failing).toEqual(['ADD', 'DEL']);
      // The masquerade runs alongside the rest, so its failure is seen last: then everything is undone.
      const masqFailed = failing.startsWith('masq setup');
      const undo = [...(masqFailed || i >= vethAt ? ['host: link del dev "veth01010101"'] : []), 'host: masq teardown net c1 1'];
      const log = kernel.log().filter(notOpenClose);
      const after = masqFailed ? log.slice(-undo.length) : log.slice(log.findIndex((l) => l.endsWith(failing)) + 1);
      expect(after, `step ${i}: ${failing}`).toEqual(undo);
      // Nothing of the pod is left, and the bridge is still there for the other pods.
      expect([...(kernel.state.get('/pod')?.keys() ?? [])], failing).toEqual([]);
      expect(kernel.state.get('host')!.has('br0'), failing).toBe(true);
    }
  });

  it("with macspoofchk, the spoof check of the pod's MAC on its host veth is set up, and removed when any later step fails", async () => {
    const ok = setup();
    await cmdAdd(args(), conf({ macspoofchk: true }), ok.deps);
    const spoof = ok.kernel.log().filter((l) => l.includes('macspoofchk'));
    expect(spoof).toEqual(['host: macspoofchk setup c1-eth0 veth01010101 02:03:03:03:03:03']);
    for (const failing of ['ip -batch', 'masq setup']) {
      const { kernel, deps } = setup();
      kernel.fail = (c: Call) => (c.what.startsWith(failing === 'masq setup' ? 'masq setup' : 'link set') ? new KernelError('other', undefined, 'injected', c.what) : undefined);
      await expect(cmdAdd(args(), conf({ macspoofchk: true }), deps), failing).rejects.toThrow('injected');
      expect(kernel.log().filter((l) => l.includes('macspoofchk')), failing).toEqual(['host: macspoofchk setup c1-eth0 veth01010101 02:03:03:03:03:03', 'host: macspoofchk teardown c1-eth0']);
    }
  });

  it('a pod that already has the interface gets code 103 before the IPAM or the masquerade run', async () => {
    const { kernel, ipamCalls, deps } = setup();
    kernel.addLink('/pod', { name: 'eth0', kind: 'veth' });
    await expect(cmdAdd(args(), conf(), deps)).rejects.toMatchObject({ code: 103 });
    // A repeated ADD: the live pod's lease and masquerade chain are keyed like ours; nothing may touch them.
    expect(ipamCalls).toEqual([]);
    expect(kernel.log().filter(notOpenClose)).toEqual([]);
    expect(kernel.state.get('/pod')!.has('eth0')).toBe(true);
  });

  it('an interface that appears between the check and the veth (a racing ADD) is 103 too, and only this ADD is undone', async () => {
    const { kernel, ipamCalls, deps } = setup();
    kernel.fail = (c: Call) => (c.what.startsWith('link add name "veth') ? new KernelError('exists', { op: 'veth-add' } as never, 'RTNETLINK answers: File exists', c.what) : undefined);
    await expect(cmdAdd(args(), conf({ ipMasq: false }), deps)).rejects.toMatchObject({ code: 103 });
    expect(ipamCalls).toEqual(['ADD', 'DEL']);
  });
});

describe('ADD asks the IPAM before it touches the node', () => {
  it('the IPAM allocates before the bridge, the veth or the masquerade are touched', async () => {
    const { kernel, deps } = setup();
    let seenAtAllocation: string[] | undefined;
    const open = deps.ipam;
    deps.ipam = async (t, c, a) => {
      const inner = await open(t, c, a);
      return { call: async (command, x) => ((seenAtAllocation ??= kernel.log().filter(notOpenClose)), inner.call(command, x)) };
    };
    await cmdAdd(args(), conf(), deps);
    expect(seenAtAllocation).toEqual([]);
  });

  it('a config the IPAM refuses touches nothing, not even the bridge', async () => {
    const { kernel, ipamCalls, deps } = setup({ bridge: false, ipamRefusesConfig: true });
    await expect(cmdAdd(args(), conf(), deps)).rejects.toThrow('no IP ranges specified');
    expect(ipamCalls).toEqual([]);
    expect(kernel.log().filter(notOpenClose)).toEqual([]);
  });

  it('a pool the IPAM refuses (full, duplicate) touches nothing either, and releases nothing it did not get', async () => {
    const { kernel, ipamCalls, deps } = setup({ bridge: false, ipamFails: true });
    await expect(cmdAdd(args(), conf(), deps)).rejects.toThrow('duplicate');
    expect(ipamCalls).toEqual(['ADD']);
    expect(kernel.log().filter(notOpenClose)).toEqual([]);
  });
});

describe('DEL through the kernel layer', () => {
  it('deletes the pod end, releases the lease, removes the masquerade with the addresses of prevResult', async () => {
    const { kernel, ipamCalls, deps } = setup();
    kernel.addLink('/pod', { name: 'eth0', kind: 'veth' });
    const prevResult = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }] };
    await cmdDel(args({ command: 'DEL' }), conf({ prevResult }), deps);
    expect(kernel.log().filter(notOpenClose)).toEqual(['/pod: link del dev "eth0"', 'host: masq teardown net c1 1']);
    expect(ipamCalls).toEqual(['DEL']);
  });

  it("removes macspoofchk's rules whether or not the netns is there, only when the config has it", async () => {
    for (const netns of ['/pod', '/gone', '']) {
      const { kernel, deps } = setup();
      kernel.missingNetns.add('/gone');
      await cmdDel(args({ command: 'DEL', netns }), conf({ macspoofchk: true }), deps);
      expect(kernel.log().filter((l) => l.includes('macspoofchk')), netns).toEqual(['host: macspoofchk teardown c1-eth0']);
      const off = setup();
      await cmdDel(args({ command: 'DEL', netns }), conf(), off.deps);
      expect(off.kernel.log().filter((l) => l.includes('macspoofchk')), netns).toEqual([]);
    }
  });

  it('is idempotent: gone interface, gone namespace, empty CNI_NETNS all succeed and still release', async () => {
    for (const netns of ['/pod', '/gone', '']) {
      const { kernel, ipamCalls, deps } = setup();
      kernel.missingNetns.add('/gone');
      await cmdDel(args({ command: 'DEL', netns }), conf({ prevResult: { cniVersion: '1.0.0', ips: [{ address: 'not an address' }] } }), deps);
      expect(ipamCalls, netns).toEqual(['DEL']);
      // An unparsable prevResult address is never used: the rules are found by name.
      expect(kernel.log().filter(notOpenClose).at(-1), netns).toBe('host: masq teardown net c1');
    }
  });
});
