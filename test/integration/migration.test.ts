// A node switched from Go bridge + host-local (Debian 1.1.1) to flatnet, as a
// migrating user does it: pods made with a config carrying every option both
// take, then the two `type` fields changed. flatnet must CHECK and DEL Go's
// pods cleanly (veth, lease, masquerade chain, macspoofchk rules), make new
// pods beside the surviving Go pods on the same bridge and store without
// handing out an address twice, and Go must DEL flatnet's pods as cleanly
// (the way back). At the end the node holds only the shared bridge and the
// spoof-check table's emptied base chain, which both plugins keep.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, inNs, ipJson, isRoot, type Netns } from '../helpers/netns.ts';
import { type NsState, nsState, storeFiles, withoutLink } from '../helpers/node-state.ts';
import { BIN_DIR, GO_DIR, runPlugin } from '../helpers/plugin.ts';

type Pair = 'go' | 'fn';
const BIN: Record<Pair, string> = { go: join(GO_DIR, 'bridge'), fn: join(BIN_DIR, 'flatnet') };
const TYPES: Record<Pair, { type: string; ipam: string }> = { go: { type: 'bridge', ipam: 'host-local' }, fn: { type: 'flatnet', ipam: 'flatnet-ipam' } };
const NET = 'fntmig';

/** The conflist's plugin with every option both plugins take; only the two types differ. */
function conf(pair: Pair, data: string, extra: object = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: NET,
    type: TYPES[pair].type,
    bridge: 'fnmig0',
    isGateway: true,
    isDefaultGateway: true,
    forceAddress: false,
    ipMasq: true,
    ipMasqBackend: 'iptables', // Go 1.1.1 knows no other (it ignores the field)
    mtu: 1400,
    hairpinMode: true,
    promiscMode: false,
    macspoofchk: true,
    enabledad: false,
    portIsolation: false,
    preserveDefaultVlan: false,
    vlanTrunk: [{ id: 10 }],
    disableContainerInterface: false,
    dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
    ipam: {
      type: TYPES[pair].ipam,
      dataDir: data,
      ranges: [[{ subnet: '10.253.0.0/24' }], [{ subnet: 'fd53::/64' }]],
      // With its gateway: Go 1.1.1's CHECK fails a route listed without one, on its own pods too.
      routes: [{ dst: '10.254.0.0/16', gw: '10.253.0.1' }],
    },
    ...extra,
  };
}

interface Pod {
  id: string;
  ns: Netns;
  by: Pair;
  result: any;
}

describe.runIf(isRoot())('migrating a node between Go bridge+host-local and flatnet', () => {
  let node: Netns;
  let data: string;
  let baseline: NsState;
  const pods = new Map<string, Pod>();

  const call = (pair: Pair, command: string, pod: Pod, extra: object = {}) =>
    runPlugin(node, BIN[pair], { ...conf(pair, data), ...extra }, { command, containerId: pod.id, netns: pod.ns.path, ifName: 'eth0' });

  async function add(pair: Pair, id: string): Promise<Pod> {
    const pod: Pod = { id, ns: await createNetns(`m${id}`), by: pair, result: undefined };
    pods.set(id, pod);
    const r = await call(pair, 'ADD', pod);
    expect(r.exitCode, `${pair} ADD ${id}: ${r.stdout} ${r.stderr}`).toBe(0);
    pod.result = r.json;
    return pod;
  }

  const hostVeth = (p: Pod): string => p.result.interfaces[1].name;
  const v4 = (p: Pod): string => p.result.ips.find((i: any) => !i.address.includes(':')).address.split('/')[0];

  /** Everything of one pod on the node and in the store: what must be gone after its DEL. */
  async function traces(p: Pod): Promise<string[]> {
    const s = await nsState(node);
    const veth = hostVeth(p);
    const ips = p.result.ips.map((i: any) => i.address.split('/')[0]);
    return [
      ...s.links.filter((l) => l.split(' ')[0] === veth).map((l) => `link ${l}`),
      ...s.iptables.filter((l) => l.includes(`id: "${p.id}"`)).map((l) => `iptables ${l}`),
      ...s.nft.filter((l) => l.includes(`${p.id}-eth0`) || l.includes(`"${veth}"`)).map((l) => `nft ${l}`),
      ...Object.keys(storeFiles(join(data, NET))).filter((f) => ips.includes(f)).map((f) => `lease ${f}`),
    ];
  }

  async function delBy(pair: Pair, p: Pod): Promise<void> {
    expect(await traces(p), `${p.id} before DEL`).not.toEqual([]);
    const r = await call(pair, 'DEL', p, { prevResult: p.result });
    expect(r.exitCode, `${pair} DEL ${p.id}: ${r.stdout} ${r.stderr}`).toBe(0);
    expect(await traces(p), `${pair} DEL of ${p.by}'s pod ${p.id} left`).toEqual([]);
    expect(await ipJson(p.ns, ['link', 'show', 'eth0']).catch(() => [])).toEqual([]);
    await deleteNetns(p.ns);
    pods.delete(p.id);
  }

  const pings = async (from: Pod, to: string): Promise<boolean> => (await inNs(from.ns, ['ping', '-c', '1', '-W', '2', to])).exitCode === 0;

  beforeAll(async () => {
    node = await createNetns('mnode');
    data = mkdtempSync(join(tmpdir(), 'fnt-mig-'));
    baseline = await nsState(node);
  });
  afterAll(async () => {
    for (const p of pods.values()) await deleteNetns(p.ns);
    if (node) await deleteNetns(node);
    rmSync(data, { recursive: true, force: true });
  });

  it('Go pods, then flatnet: CHECK and DEL of Go pods, new pods beside the rest, and Go deleting flatnet pods', { timeout: 120_000 }, async () => {
    // The node as it runs with Go.
    const [a, b, c] = [await add('go', 'ga'), await add('go', 'gb'), await add('go', 'gc')];
    expect(await pings(b, v4(c))).toBe(true);

    // The types switched. flatnet checks and deletes a Go pod.
    const check = await call('fn', 'CHECK', a, { prevResult: a.result });
    expect(check.exitCode, `flatnet CHECK of Go's pod: ${check.stdout}`).toBe(0);
    await delBy('fn', a);

    // New pods beside the Go pods left: no address twice, and they reach each other and the Go pods.
    const [d, e] = [await add('fn', 'fd'), await add('fn', 'fe')];
    const taken = [b, c, d, e].flatMap((p) => p.result.ips.map((i: any) => i.address));
    expect(new Set(taken).size, `addresses: ${taken.join(' ')}`).toBe(taken.length);
    expect(await pings(d, v4(b))).toBe(true);
    expect(await pings(e, v4(d))).toBe(true);
    expect(await pings(c, v4(e))).toBe(true);
    // flatnet's pods are checked by flatnet; Go checks them too (the way back).
    for (const pair of ['fn', 'go'] as const) {
      const r = await call(pair, 'CHECK', d, { prevResult: d.result });
      expect(r.exitCode, `${pair} CHECK of flatnet's pod: ${r.stdout}`).toBe(0);
    }

    // The way back: Go deletes a flatnet pod; flatnet deletes the other Go pods and its own.
    await delBy('go', d);
    await delBy('fn', b);
    await delBy('fn', e);
    // A Go pod made after flatnet ran (the store and bridge as flatnet left them), deleted by flatnet.
    const f = await add('go', 'gf');
    expect(await pings(f, v4(c))).toBe(true);
    await delBy('fn', f);
    await delBy('fn', c);

    const end = await nsState(node);
    expect(withoutLink(end, 'fnmig0')).toEqual(withoutLink(baseline, 'fnmig0'));
    const leases = Object.keys(storeFiles(join(data, NET)));
    expect(leases, 'leases left').toEqual([]);
  });
});
