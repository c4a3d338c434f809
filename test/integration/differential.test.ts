// Bad (and odd but valid) input, run through flatnet + flatnet-ipam and through
// Go bridge + host-local (Debian 1.1.1, spec up to 1.0.0) with the same
// environment and stdin, each in fresh node and pod namespaces. For every case:
//   - flatnet gives the outcome the table names (code and words of the message);
//   - against Go: success where Go succeeds, a refusal where Go refuses, with
//     the same code or a well-known one where Go says 999; a case where
//     flatnet differs on purpose says why in one line;
//   - flatnet leaves nothing behind: a failed call changes nothing in either
//     namespace or the store, a successful ADD followed by its DEL leaves only
//     the shared bridge, and every case ends with the store empty and no rule.
// Cases marked go: false use spec 1.1.0 features Debian's Go plugins lack;
// they are checked against the spec alone.
// DIFF_REPORT=<file> writes each case's two outcomes as JSON lines.
import { appendFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, it } from 'vitest';
import { addOk, baseConf, call, defaultEnv, dropSide, makeSide, type Outcome, type Side } from '../helpers/cni-side.ts';
import { createNetns, deleteNetns, isRoot } from '../helpers/netns.ts';
import { BIN_DIR, GO_DIR } from '../helpers/plugin.ts';
import { type NsState, nsState, SHARED_NFT, storeFiles, withoutLink } from '../helpers/node-state.ts';

type Env = Record<string, string | undefined>;
type Expect = 'ok' | [code: number, msg: string | RegExp];

interface Case {
  name: string;
  verb?: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';
  env?: (s: Side) => Env;
  conf?: (s: Side) => object | string | Buffer;
  /** Makes what is not the plugins' (a link or file in the way) before the first reading of the node. */
  prepare?: (s: Side) => Promise<void>;
  /** Runs before the call on each side (a first ADD, …). */
  setup?: (s: Side) => Promise<void>;
  /** false: a 1.1.0-only case, flatnet alone against the spec. */
  go?: false;
  fn: Expect;
  /** More checks on each side after the call. */
  after?: (s: Side, o: Outcome) => Promise<void>;
  /** State read on each side right after the call, which must read the same on both when both succeed. */
  same?: Probe[];
  /** The result printed must be the same on both sides (for results without random names or MACs). */
  sameResult?: true;
  /** The working directory of the plugin (for relative paths). */
  cwd?: (s: Side) => string;
  /** The bridge the config names, when the test cannot read it from the config object. */
  bridge?: string;
  /**
   * A known defect left for the owner of the code: the case must still find
   * it (so the marker goes when it is fixed) and says where it is.
   */
  defect?: string;
}

/** A reading of state that Go and flatnet must leave alike (interface names fixed by the case; random ones left out). */
interface Probe {
  name: string;
  read: (s: Side) => Promise<string[]>;
}
const jsonOf = async (p: Promise<{ stdout: string }>) => JSON.parse((await p).stdout || '[]');
/** The pod's routes of every table, multipath ones with their next hops (link-local ones are the kernel's, left out). */
const podRoutes: Probe = {
  name: 'pod routes',
  read: async (s) => {
    const out: string[] = [];
    for (const fam of ['-4', '-6']) {
      for (const r of await jsonOf(ns(s, ['ip', '-j', fam, 'route', 'show', 'table', 'all']))) {
        if (r.type && r.type !== 'unicast') continue;
        if (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:')) continue;
        const hops = r.nexthops ? r.nexthops.map((h: any) => `${h.gateway ?? ''}@${h.dev}`).sort().join('+') : `${r.gateway ?? ''}@${r.dev}`;
        out.push(`${r.dst} ${hops} metric ${r.metric ?? 0} table ${r.table ?? 'main'} ${r.protocol ?? ''} ${r.scope ?? ''}`);
      }
    }
    return out.sort();
  },
};
const addrLines = (links: any[]) => links.flatMap((l: any) => (l.addr_info ?? []).filter((a: any) => a.scope !== 'link').map((a: any) => `${l.ifname} ${a.local}/${a.prefixlen}${a.broadcast ? ` brd ${a.broadcast}` : ''}`)).sort();
/** The pod's addresses, with their broadcast. */
const podAddrsProbe: Probe = { name: 'pod addresses', read: async (s) => addrLines(await jsonOf(ns(s, ['ip', '-j', 'addr', 'show']))) };
/** The pod's IPv6 addresses still in duplicate address detection. */
const podTentative: Probe = {
  name: 'pod tentative addresses',
  read: async (s) => ['tentative:', ...(await jsonOf(ns(s, ['ip', '-j', '-6', 'addr', 'show', 'tentative']))).flatMap((l: any) => (l.addr_info ?? []).map((a: any) => `${l.ifname} ${a.local}`))],
};
/** The bridge's addresses, with their broadcast. */
const bridgeAddrs: Probe = { name: 'bridge addresses', read: async (s) => addrLines(await jsonOf(nodeNs(s, ['ip', '-j', 'addr', 'show', 'dev', 'fnbr0']))) };
/** Whether the bridge takes IPv6 router advertisements (its sysctl in the node's namespace). */
const bridgeAcceptRa: Probe = { name: 'bridge accept_ra', read: async (s) => [(await nodeNs(s, ['cat', '/proc/sys/net/ipv6/conf/fnbr0/accept_ra'])).stdout.trim()] };
/** The IPAM store's files and directories with their modes (the umask the test runs with applies to both). */
const storeModes: Probe = {
  name: 'store modes',
  read: async (s) => {
    const out: string[] = [];
    const walk = (d: string, rel: string): void => {
      for (const n of readdirSync(d)) {
        const st = statSync(join(d, n));
        out.push(`${rel}${n} ${(st.mode & 0o7777).toString(8)}`);
        if (st.isDirectory()) walk(join(d, n), `${rel}${n}/`);
      }
    };
    walk(s.data, '');
    return [`data ${(statSync(s.data).mode & 0o7777).toString(8)}`, ...out.sort()];
  },
};
/** A bridge fnbr0 made before the plugins run, up, with `addrs` in this order. */
const bridgeWith = (...addrs: string[]) => async (s: Side) => {
  await nodeNs(s, ['ip', 'link', 'add', 'fnbr0', 'type', 'bridge']);
  await nodeNs(s, ['ip', 'link', 'set', 'fnbr0', 'up']);
  for (const a of addrs) await nodeNs(s, ['ip', 'addr', 'add', a, 'dev', 'fnbr0']);
};
/** In the pod: a second interface oth0 (its peer oth1) on 10.9.0.5/24 and fd99::5/64, as another network's plugin would leave it, and `routes` through it. */
const otherNetwork = (...routes: string[][]) => async (s: Side) => {
  const pod = (argv: string[]) => ns(s, ['ip', ...argv]);
  await pod(['link', 'add', 'oth0', 'type', 'veth', 'peer', 'name', 'oth1']);
  for (const l of ['oth0', 'oth1']) await pod(['link', 'set', l, 'up']);
  await pod(['addr', 'add', '10.9.0.5/24', 'dev', 'oth0']);
  await pod(['-6', 'addr', 'add', 'fd99::5/64', 'dev', 'oth0', 'nodad']);
  for (const r of routes) await pod(r[0] === '-6' ? ['-6', 'route', 'add', ...r.slice(1)] : ['route', 'add', ...r]);
};
const conf = (extra: object = {}, ipam: object = {}) => (s: Side) => ({ ...baseConf(s, { ipam }), ...extra });
const v = (version: string, extra: object = {}) => (s: Side) => ({ ...baseConf(s, { version }), ...extra });
const ipamOnly = (ipam: object, extra: object = {}) => (s: Side) => {
  const c = baseConf(s);
  return { ...c, ...extra, ipam: { type: c.ipam.type, dataDir: s.data, ...ipam } };
};
const env = (e: Env) => () => e;
const netns = (f: (s: Side) => string) => (s: Side) => ({ CNI_NETNS: f(s) });
const ns = (s: Side, argv: string[]) => execa('ip', ['netns', 'exec', s.pod.name, ...argv]);
const nodeNs = (s: Side, argv: string[]) => execa('ip', ['netns', 'exec', s.node.name, ...argv]);
const prevWith = (mut: (prev: any) => void, extra: object = {}) => (s: Side) => {
  const prev = structuredClone(s.prev);
  mut(prev);
  return { ...baseConf(s), ...extra, prevResult: prev };
};
const setupAdd = (over: Record<string, string> = {}, c?: (s: Side) => object) => async (s: Side) => {
  await addOk(s, over, c?.(s));
};
const id253 = `a${'b'.repeat(252)}`;
const leases = (s: Side, net = 'fntnet') => Object.entries(storeFiles(join(s.data, net))).filter(([f]) => /^[\d.:a-f]+$/.test(f));
const expectTrue = (ok: boolean, what: string) => {
  if (!ok) throw new Error(what);
};
const podAddrs = async (s: Side, dev = 'eth0') => {
  const r = await ns(s, ['ip', '-j', 'addr', 'show', 'dev', dev]).catch(() => ({ stdout: '[]' }));
  return (JSON.parse(r.stdout || '[]')[0]?.addr_info ?? []).filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`);
};
/** After a refused repeated ADD: the first pod keeps its interface, address and lease, and the next pod gets another address. */
const firstPodIntact = async (s: Side) => {
  const first = s.prev.ips[0].address as string;
  expectTrue((await podAddrs(s)).includes(first), `${s.flavour}: first pod lost ${first}: has ${await podAddrs(s)}`);
  const held = leases(s).filter(([, c]) => c === 'c1\r\neth0').map(([f]) => f);
  expectTrue(held.length === 1 && held[0] === first.split('/')[0], `${s.flavour}: store for c1/eth0 is ${JSON.stringify(held)}, want [${first}]`);
  const pod2 = await createNetns(`${s.flavour}q`);
  try {
    const e = { ...defaultEnv(s, 'ADD'), CNI_CONTAINERID: 'c2', CNI_NETNS: pod2.path };
    const other = await call(s, e, JSON.stringify(baseConf(s)));
    expectTrue(other.exitCode === 0, `${s.flavour}: ADD of another pod failed: ${other.stdout}`);
    expectTrue(other.result.ips[0].address !== first, `${s.flavour}: another pod got the first pod's ${first}`);
    await call(s, { ...e, CNI_COMMAND: 'DEL' }, JSON.stringify(baseConf(s)));
  } finally {
    await deleteNetns(pod2);
  }
};
/** After a DEL: no lease, no pod interface (masquerade rules are checked at the end of every case). */
const podGone = async (s: Side) => {
  expectTrue(leases(s).length === 0, `${s.flavour}: lease kept`);
  expectTrue((await podAddrs(s)).length === 0, `${s.flavour}: pod kept eth0`);
};
/** flatnet isolates the pod's port (Go 1.1.1 ignores portIsolation: its ports are not). */
const portIsolated = async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0 || s.flavour !== 'fn') return;
  const ports = await jsonOf(nodeNs(s, ['ip', '-j', '-d', 'link', 'show', 'master', 'fnbr0']));
  expectTrue(ports.length === 1 && ports[0].linkinfo?.info_slave_data?.isolated === true, `fn: port not isolated: ${JSON.stringify(ports.map((p: any) => p.linkinfo?.info_slave_data))}`);
};
/** The node's macspoofchk rules (table bridge nat), with the host veth's name and the pod's MAC as words, so the two sides compare. */
const spoofRules: Probe = {
  name: 'macspoofchk rules',
  read: async (s) => {
    const ports = await jsonOf(nodeNs(s, ['ip', '-j', 'link', 'show', 'master', 'fnbr0']));
    const mac = (await jsonOf(ns(s, ['ip', '-j', 'link', 'show', 'eth0']).catch(() => ({ stdout: '[]' }))))[0]?.address ?? 'none';
    const t = await jsonOf(nodeNs(s, ['nft', '-j', 'list', 'table', 'bridge', 'nat']).catch(() => ({ stdout: '{}' })));
    const words = (x: string) => ports.reduce((acc: string, p: any) => acc.split(p.ifname).join('HOSTVETH'), x).split(mac).join('PODMAC');
    return (t.nftables ?? []).flatMap((o: any) => (o.chain ? [`chain ${o.chain.name} ${o.chain.hook ?? ''} ${o.chain.prio ?? ''} ${o.chain.policy ?? ''}`] : o.rule ? [`rule ${o.rule.chain} ${JSON.stringify(o.rule.expr)} ${o.rule.comment}`] : [])).map(words);
  },
};
/** An L2-only result in the 0.1.0/0.2.0 shape: no ip4 or ip6, as there are no addresses; the pod's interface up. */
const l2Result = (version: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0 || s.flavour !== 'fn') return;
  expectTrue(JSON.stringify(o.result) === JSON.stringify({ cniVersion: version, dns: {} }), `fn: result ${o.stdout}`);
  const l = (await jsonOf(ns(s, ['ip', '-j', 'link', 'show', 'eth0'])))[0];
  expectTrue(l.flags.includes('UP'), `fn: eth0 is down: ${JSON.stringify(l.flags)}`);
};
/** flatnet said on stderr what it ignored. */
const warned = (what: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0 || s.flavour !== 'fn') return;
  expectTrue(o.stderr.includes(`flatnet: warning: ${what}`), `fn: no warning "${what}" on stderr: ${JSON.stringify(o.stderr)}`);
};
/** flatnet left the L2-only pod's interface down (Go 1.1.1 ignores disableContainerInterface and brings it up). */
const podIfDown = async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0 || s.flavour !== 'fn') return;
  const l = (await jsonOf(ns(s, ['ip', '-j', 'link', 'show', 'eth0'])))[0];
  expectTrue(!l.flags.includes('UP'), `fn: eth0 is up: ${JSON.stringify(l.flags)}`);
};
/** ping from the pod to the gateway on the bridge, as the node sees it: true when it answers. */
const pingsGateway = async (s: Side) => (await ns(s, ['ping', '-c', '1', '-W', '1', '10.250.0.1']).catch(() => undefined)) !== undefined;
/** macspoofchk works: the pod reaches the gateway with its own MAC, not with another (its frames are dropped at the bridge). */
const spoofDropped = async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0) return;
  const mac = (await jsonOf(ns(s, ['ip', '-j', 'link', 'show', 'eth0'])))[0].address;
  expectTrue(await pingsGateway(s), `${s.flavour}: the pod with its own MAC does not reach the gateway`);
  await ns(s, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
  await ns(s, ['ip', 'link', 'set', 'eth0', 'address', '02:00:00:00:00:99']);
  const spoofed = await pingsGateway(s);
  await ns(s, ['ip', 'link', 'set', 'eth0', 'address', mac]);
  expectTrue(!spoofed, `${s.flavour}: the pod with a spoofed MAC reaches the gateway`);
};
/** A pod ADDed by the other plugin pair (Go's for flatnet's side, flatnet's for Go's), with `extra` in its config. */
const otherAdd = (extra: object) => async (s: Side) => {
  const other = s.flavour === 'fn' ? { type: 'bridge', ipam: 'host-local', bin: join(GO_DIR, 'bridge') } : { type: 'flatnet', ipam: 'flatnet-ipam', bin: join(BIN_DIR, 'flatnet') };
  const base = baseConf(s);
  const c = { ...base, ...extra, type: other.type, ipam: { ...base.ipam, type: other.ipam } };
  const o = await call(s, defaultEnv(s, 'ADD'), JSON.stringify(c), { bin: other.bin });
  if (o.exitCode !== 0) throw new Error(`${s.flavour}: the other plugin's ADD failed: ${o.stdout}`);
  s.prev = o.result;
};
const bridgeNamed = (name: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0) return; // the comparison with Go judges a failure
  const r = await nodeNs(s, ['ip', '-j', 'link', 'show', 'type', 'bridge']);
  const names = JSON.parse(r.stdout || '[]').map((l: any) => l.ifname);
  expectTrue(names.includes(name), `${s.flavour}: no bridge named ${JSON.stringify(name)} (have ${JSON.stringify(names)}); ${o.stdout.slice(0, 200)}`);
};
const podIf = (name: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0) return;
  const r = await ns(s, ['ip', '-j', 'link', 'show']);
  const names = JSON.parse(r.stdout || '[]').map((l: any) => l.ifname);
  expectTrue(names.includes(name), `${s.flavour}: pod has no ${JSON.stringify(name)} (have ${JSON.stringify(names)})`);
};
const gotIp = (ip: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0) return;
  expectTrue(o.result?.ips?.[0]?.address === ip, `${s.flavour}: got ${JSON.stringify(o.result?.ips)}, want ${ip}`);
};
// The table Go's nftables setup makes (knftables' text), before any rule of a pod.
const GO_MASQ_TABLE = [
  'add table inet cni_plugins_masquerade { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }',
  'add chain inet cni_plugins_masquerade masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }',
  'add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority 100 ; }',
  'add rule inet cni_plugins_masquerade postrouting ip daddr == 224.0.0.0/4  return',
  'add rule inet cni_plugins_masquerade postrouting ip6 daddr == ff00::/8  return',
  'add rule inet cni_plugins_masquerade postrouting goto masq_checks',
  '',
].join('\n');
const nftMasqRule = async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0 || s.flavour !== 'fn') return;
  const r = await nodeNs(s, ['nft', 'list', 'chain', 'inet', 'cni_plugins_masquerade', 'masq_checks']);
  const ip = o.result.ips[0].address.split('/')[0];
  expectTrue(r.stdout.includes(`ip saddr ${ip} ip daddr != `), `fn: no nftables masquerade rule for ${ip}: ${r.stdout}`);
};
const podMac = (mac: string) => async (s: Side, o: Outcome) => {
  if (o.exitCode !== 0) return;
  const pod = o.result.interfaces.find((i: any) => i.sandbox);
  expectTrue(pod?.mac === mac, `${s.flavour}: pod MAC ${pod?.mac}, want ${mac}`);
};
const deep = (n: number) => `{"cniVersion":"1.0.0","name":"fntnet","type":"TYPE","pad":${'['.repeat(n)}${']'.repeat(n)},"bridge":"fnbr0","ipam":{"type":"IPAM","ranges":[[{"subnet":"10.250.0.0/24"}]],"dataDir":"DATA"}}`;
const raw = (text: string) => (s: Side) => text.replace('TYPE', s.bridgeType).replace('IPAM', s.ipamType).replace('DATA', s.data);

/** The side's bridge plugin with Go host-local as its IPAM (flatnet execs it). */
const withHostLocal = (s: Side) => {
  const c = baseConf(s);
  return { ...c, ipam: { ...c.ipam, type: 'host-local' } };
};

const GO_SKIP_11 = 'Debian Go 1.1.1 stops at spec 1.0.0';

/**
 * Every case where flatnet's outcome differs from Go's on purpose, by case name, with why
 * (the one list of known differences; a case listed here whose outcome Go shares fails).
 */
const KNOWN_DIFFERENCES: Record<string, string> = {
  '254-char container id': 'flatnet bounds IDs to 253 so a lease file name and a comment always fit; Go has no bound',
  'ifname with both quotes': 'ip -batch cannot carry a word with both quotes',
  'ifname with #': "'#' starts a comment in ip -batch",
  'ifname starting with #': "'#' starts a comment in ip -batch",
  "netns that is the plugin's own": 'acting on its own namespace would reconfigure the node (plugins#714); Debian Go 1.1.1 does it',
  'CNI_ARGS IP without IgnoreUnknown': 'IP= is a key of the plugin pair; Go bridge refuses a key only its IPAM reads',
  'JSON null': 'null is not a config: a decoding failure (6), where Go decodes it to an empty config and says the name is missing (7)',
  'a lone surrogate escape in the bridge name': 'a lone surrogate is no character: Go silently names the bridge U+FFFD, which flatnet would spell otherwise',
  'cniVersion 1.1.0': GO_SKIP_11,
  'network name a number': 'a field of the wrong type is an invalid config (7), as for every other field; Go calls it a decoding failure (6)',
  'bridge with #': "'#' starts a comment in ip -batch",
  'bridge empty: cni0': 'cni0 is the documented default; Go fails on an explicit ""',
  'mtu -1': 'Go silently ignores a negative MTU',
  'isGateway "true" as a string': 'libcni-era configs carry "true"; Go bridge refuses the string',
  'CHECK with macspoofchk whose rules are gone': "Go's CHECK does not look at the spoof check: a pod left unprotected passes",
  'runtimeConfig.ipRanges before ipam.ranges: two IPv4 gateways': 'Go puts both gateways on the bridge and fails on the second; flatnet gives the bridge the first',
  'two IPv4 range sets: the bridge takes the first gateway': 'Go puts both gateways on the bridge and fails on the second; flatnet gives the bridge the first',
  'isDefaultGateway with a default route from the IPAM': 'Go adds a second default route and fails with "file exists"; one per family is enough',
  '5 MiB config': 'flatnet bounds stdin at 4 MiB; real configs are a few KiB',
  'JSON nested 5,000 deep': "QuickJS's parser stops at a few thousand levels, Go's at 10,000; real configs nest fewer than ten",
  'IPAM lists the default route twice': 'Go adds the same route twice and fails with "file exists"; the route asked for is there',
  'bridge holds another IPv4 address listed before the gateway': 'Go stops at the first address that is not the gateway; flatnet finds the gateway wherever it is listed and keeps the other',
  'DEL with ifname eth-percent-d': 'names are checked alike for every verb; no ADD can have made this one (the kernel renames it)',
  'DEL with ifname "a#b"': "ip -batch cannot name it; a pod Go made with such a name cannot be DELed by flatnet",
  'no ipam (L2 only) at cniVersion 0.2.0': 'Go sets the pod up, then fails to write the result ("cannot convert: no valid IP addresses", 999) and leaves the veth; flatnet gives the 0.2.0 shape with no ip4 and ip6, which the spec allows',
  'no ipam (L2 only) at cniVersion 0.1.0': 'Go sets the pod up, then fails to write the result ("cannot convert: no valid IP addresses", 999) and leaves the veth; flatnet gives the 0.1.0 shape with no ip4 and ip6, which the spec allows',
  'vlanTrunk with id 4095': 'Go 1.1.1 ignores vlanTrunk, whatever it holds; newer Go refuses it with these words, and so does flatnet',
  'vlanTrunk minID without maxID': 'Go 1.1.1 ignores vlanTrunk, whatever it holds; newer Go refuses it with these words, and so does flatnet',
  'vlanTrunk minID above maxID': 'Go 1.1.1 ignores vlanTrunk, whatever it holds; newer Go refuses it with these words, and so does flatnet',
  'vlanTrunk not a list': 'Go 1.1.1 ignores vlanTrunk, whatever it holds; newer Go cannot decode it, and flatnet says so',
  'disableContainerInterface "maybe"': 'Go 1.1.1 ignores the field; a value that is not a boolean is a config error (newer Go: a decoding failure)',
};

const cases: Case[] = [
  // --- the environment ---
  { name: 'unknown CNI_COMMAND', env: env({ CNI_COMMAND: 'BOGUS' }), fn: [4, 'unknown CNI_COMMAND: BOGUS'] },
  { name: 'lower-case command', env: env({ CNI_COMMAND: 'add' }), fn: [4, 'unknown CNI_COMMAND: add'] },
  { name: 'no CNI_COMMAND: about text, exit 0', env: env({ CNI_COMMAND: undefined }), fn: 'ok' },
  { name: 'CNI_CONTAINERID absent', env: env({ CNI_CONTAINERID: undefined }), fn: [4, 'CNI_CONTAINERID'] },
  { name: 'CNI_CONTAINERID empty', env: env({ CNI_CONTAINERID: '' }), fn: [4, 'CNI_CONTAINERID'] },
  { name: 'CNI_NETNS absent', env: env({ CNI_NETNS: undefined }), fn: [4, 'CNI_NETNS'] },
  { name: 'CNI_IFNAME absent', env: env({ CNI_IFNAME: undefined }), fn: [4, 'CNI_IFNAME'] },
  { name: 'CNI_PATH absent', env: env({ CNI_PATH: undefined }), fn: [4, 'CNI_PATH'] },
  { name: 'container id with a slash', env: env({ CNI_CONTAINERID: 'a/b' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id with a space', env: env({ CNI_CONTAINERID: 'a b' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id starting with a dot', env: env({ CNI_CONTAINERID: '.a' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id starting with a dash', env: env({ CNI_CONTAINERID: '-a' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id with a newline', env: env({ CNI_CONTAINERID: 'a\nb' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id in unicode', env: env({ CNI_CONTAINERID: 'ünïcode' }), fn: [4, 'invalid characters in containerID'] },
  { name: 'container id with a quote', env: env({ CNI_CONTAINERID: 'a"b' }), fn: [4, 'invalid characters in containerID'] },
  { name: '253-char container id with ipMasq', env: env({ CNI_CONTAINERID: id253 }), fn: 'ok' },
  { name: '253-char container id, ipMasq off', env: env({ CNI_CONTAINERID: id253 }), conf: conf({ ipMasq: false }), fn: 'ok' },
  { name: '254-char container id', env: env({ CNI_CONTAINERID: `${id253}c` }), conf: conf({ ipMasq: false }), fn: [4, 'containerID is 254 characters long'] },
  { name: 'ifname "type"', env: env({ CNI_IFNAME: 'type' }), fn: 'ok', after: podIf('type') },
  { name: 'ifname "dev"', env: env({ CNI_IFNAME: 'dev' }), fn: 'ok', after: podIf('dev') },
  { name: 'ifname "netns"', env: env({ CNI_IFNAME: 'netns' }), fn: 'ok', after: podIf('netns') },
  { name: 'ifname "help"', env: env({ CNI_IFNAME: 'help' }), fn: 'ok', after: podIf('help') },
  { name: 'ifname "down"', env: env({ CNI_IFNAME: 'down' }), fn: 'ok', after: podIf('down') },
  { name: 'ifname "name"', env: env({ CNI_IFNAME: 'name' }), fn: 'ok', after: podIf('name') },
  { name: 'ifname "-j"', env: env({ CNI_IFNAME: '-j' }), fn: 'ok', after: podIf('-j') },
  { name: 'ifname "lo" (exists in every pod)', env: env({ CNI_IFNAME: 'lo' }), fn: [103, 'container veth name provided (lo) already exists'] },
  { name: 'ifname with a double quote', env: env({ CNI_IFNAME: 'a"b' }), fn: 'ok', after: podIf('a"b') },
  { name: 'ifname with a single quote', env: env({ CNI_IFNAME: "a'b" }), fn: 'ok', after: podIf("a'b") },
  { name: 'ifname with both quotes', env: env({ CNI_IFNAME: `a'"b` }), fn: [4, 'both kinds of quote'] },
  { name: 'ifname with #', env: env({ CNI_IFNAME: 'eth#0' }), fn: [4, "contains '#'"] },
  { name: 'ifname starting with #', env: env({ CNI_IFNAME: '#' }), fn: [4, "contains '#'"] },
  { name: 'ifname with a backslash at the end', env: env({ CNI_IFNAME: 'eth\\' }), fn: 'ok', after: podIf('eth\\') },
  { name: 'ifname in unicode', env: env({ CNI_IFNAME: '日本語' }), fn: 'ok', after: podIf('日本語') },
  { name: 'ifname é (2 bytes)', env: env({ CNI_IFNAME: 'eé' }), fn: 'ok', after: podIf('eé') },
  { name: 'ifname à (a 0xA0 byte the kernel reads as a space)', env: env({ CNI_IFNAME: 'à' }), fn: [4, 'space'] },
  { name: 'ifname eth-percent-d (a kernel name template)', env: env({ CNI_IFNAME: 'eth%d' }), fn: [4, "contains '%'"] },
  { name: 'ifname with a percent sign not before d', env: env({ CNI_IFNAME: 'a%s' }), fn: [4, "contains '%'"] },
  { name: 'ifname "all"', env: env({ CNI_IFNAME: 'all' }), fn: [4, 'reserved by the kernel'] },
  { name: 'ifname "default"', env: env({ CNI_IFNAME: 'default' }), fn: [4, 'reserved by the kernel'] },
  { name: 'ifname NBSP', env: env({ CNI_IFNAME: 'a\u00a0b' }), fn: [4, 'whitespace'] },
  { name: 'ifname of 16 bytes in 10 characters', env: env({ CNI_IFNAME: 'abc日本語xyzw' }), fn: [4, 'too long'] },
  { name: 'ifname of 15 bytes in 9 characters', env: env({ CNI_IFNAME: 'ab日本語xyzw' }), fn: 'ok', after: podIf('ab日本語xyzw') },
  { name: 'ifname of 15 chars', env: env({ CNI_IFNAME: 'e23456789012345' }), fn: 'ok' },
  { name: 'ifname of 16 chars', env: env({ CNI_IFNAME: 'e234567890123456' }), fn: [4, 'too long'] },
  { name: 'ifname "."', env: env({ CNI_IFNAME: '.' }), fn: [4, '. or ..'] },
  { name: 'ifname ".."', env: env({ CNI_IFNAME: '..' }), fn: [4, '. or ..'] },
  { name: 'ifname with a colon', env: env({ CNI_IFNAME: 'eth:0' }), fn: [4, 'contains / or :'] },
  { name: 'ifname with a slash', env: env({ CNI_IFNAME: 'a/b' }), fn: [4, 'contains / or :'] },
  { name: 'ifname with a newline and a command', env: env({ CNI_IFNAME: 'x\nlink add evil type bridge' }), fn: [4, 'interface name is too long'] },
  { name: 'ifname with a tab', env: env({ CNI_IFNAME: 'a\tb' }), fn: [4, 'whitespace'] },
  { name: 'ifname already in the pod', prepare: async (s) => void (await ns(s, ['ip', 'link', 'add', 'eth0', 'type', 'bridge'])), fn: [103, 'container veth name provided (eth0) already exists'] },
  // --- CNI_NETNS ---
  { name: 'netns path with a newline and ip commands', env: netns((s) => `${s.pod.path}\nlink add evil type bridge`), fn: [4, 'failed to open netns'] },
  { name: 'netns path with a trailing newline', env: netns((s) => `${s.pod.path}\n`), fn: [4, 'failed to open netns'] },
  { name: 'netns path with a newline then netns keyword', env: netns((s) => `x\nnetns ${s.pod.path}`), fn: [4, 'failed to open netns'] },
  // Opened once and used by fd from then on, a relative path names one namespace for the whole call.
  { name: 'relative netns path', env: netns((s) => s.pod.path.slice(1)), fn: 'ok' },
  { name: 'relative netns path that the cwd does not resolve', cwd: (s) => s.tmp, env: netns((s) => s.pod.path.slice(1)), fn: [4, 'failed to open netns'] },
  { name: 'netns that is a regular file', prepare: async (s) => writeFileSync(join(s.tmp, 'f'), 'x'), env: netns((s) => join(s.tmp, 'f')), fn: [4, 'is not a network namespace'] },
  { name: 'netns that is a directory', env: netns((s) => s.tmp), fn: [4, 'is not a network namespace'] },
  { name: 'netns that is /dev/null', env: netns(() => '/dev/null'), fn: [4, 'is not a network namespace'] },
  { name: 'netns that is a FIFO', prepare: async (s) => void (await execa('mkfifo', [join(s.tmp, 'fifo')])), env: netns((s) => join(s.tmp, 'fifo')), fn: [4, 'is not a network namespace'] },
  { name: 'netns that is a symlink to the pod netns', prepare: async (s) => symlinkSync(s.pod.path, join(s.tmp, 'link')), env: netns((s) => join(s.tmp, 'link')), fn: 'ok' },
  { name: 'netns that is a symlink to a file', prepare: async (s) => { writeFileSync(join(s.tmp, 'f'), 'x'); symlinkSync(join(s.tmp, 'f'), join(s.tmp, 'link')); }, env: netns((s) => join(s.tmp, 'link')), fn: [4, 'is not a network namespace'] },
  { name: 'netns that is a dangling symlink', prepare: async (s) => symlinkSync(join(s.tmp, 'nothing'), join(s.tmp, 'link')), env: netns((s) => join(s.tmp, 'link')), fn: [4, 'failed to open netns'] },
  { name: 'netns that does not exist', env: netns(() => '/var/run/netns/fnt-no-such-ns'), fn: [4, 'failed to open netns'] },
  { name: 'netns that is a UTS namespace', env: netns(() => '/proc/self/ns/uts'), fn: [4, 'not a network namespace'] },
  { name: "netns that is the plugin's own", env: netns(() => '/proc/self/ns/net'), fn: [8, "plugin's netns and netns from CNI_NETNS should not be the same"] },
  // --- CNI_ARGS ---
  { name: 'CNI_ARGS with a trailing ;', env: env({ CNI_ARGS: 'IgnoreUnknown=1;' }), fn: [4, 'ARGS: invalid pair'] },
  { name: 'CNI_ARGS unknown key', env: env({ CNI_ARGS: 'K8S_POD_NAME=x' }), fn: [4, 'ARGS: unknown args'] },
  { name: 'CNI_ARGS unknown key with IgnoreUnknown', env: env({ CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x;K8S_POD_NAMESPACE=y' }), fn: 'ok' },
  { name: 'CNI_ARGS IgnoreUnknown=true', env: env({ CNI_ARGS: 'IgnoreUnknown=true;K8S_POD_NAME=x' }), fn: 'ok' },
  { name: 'CNI_ARGS value with =', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=a=b' }), fn: [4, 'ARGS: invalid pair'] },
  { name: 'CNI_ARGS IP without IgnoreUnknown', env: env({ CNI_ARGS: 'IP=10.250.0.9' }), fn: 'ok', after: gotIp('10.250.0.9/24') },
  { name: 'CNI_ARGS IP', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.250.0.9' }), fn: 'ok', after: gotIp('10.250.0.9/24') },
  { name: 'CNI_ARGS IP outside the range', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.9.9.9' }), fn: [101, 'failed to allocate all requested IPs: 10.9.9.9'] },
  { name: 'CNI_ARGS IP is the gateway', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.250.0.1' }), fn: [101, 'gateway'] },
  { name: 'CNI_ARGS IP not an address', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.250.0.x' }), fn: [7, 'CNI_ARGS IP'] },
  { name: 'CNI_ARGS IP with ip commands', env: env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.250.0.9 dev lo' }), fn: [7, 'CNI_ARGS IP'] },
  { name: 'CNI_ARGS MAC', env: env({ CNI_ARGS: 'IgnoreUnknown=1;MAC=02:00:00:00:00:42' }), fn: 'ok', after: podMac('02:00:00:00:00:42') },
  { name: 'CNI_ARGS MAC invalid', env: env({ CNI_ARGS: 'IgnoreUnknown=1;MAC=zz' }), fn: [7, 'invalid MAC address'] },
  { name: 'CNI_ARGS MAC multicast', env: env({ CNI_ARGS: 'IgnoreUnknown=1;MAC=03:00:00:00:00:42' }), fn: [7, 'multicast'] },
  { name: 'CNI_PATH without the IPAM plugin', env: env({ CNI_PATH: '/nonexistent' }), fn: [7, 'failed to find plugin'] },
  // --- stdin ---
  { name: 'empty stdin', conf: () => '', fn: [6, 'error unmarshall network config'] },
  { name: 'truncated JSON', conf: () => '{"cniVersion":', fn: [6, 'error unmarshall network config'] },
  { name: 'JSON array', conf: () => '[]', fn: [6, 'not a JSON object'] },
  { name: 'JSON null', conf: () => 'null', fn: [6, 'not a JSON object'] },
  { name: 'JSON string', conf: () => '"x"', fn: [6, 'not a JSON object'] },
  { name: 'trailing garbage after the object', conf: (s) => `${JSON.stringify(baseConf(s))} x`, fn: [6, 'error unmarshall network config'] },
  { name: 'invalid UTF-8 in the bridge name', conf: (s) => Buffer.concat(JSON.stringify(baseConf(s)).split('"fnbr0"').flatMap((part, i) => (i ? [Buffer.from('"fnbr\xff"', 'latin1'), Buffer.from(part)] : [Buffer.from(part)]))), bridge: 'fnbr\ufffd', fn: 'ok', after: bridgeNamed('fnbr\ufffd') },
  { name: 'a lone surrogate escape in the bridge name', conf: (s) => JSON.stringify(baseConf(s)).replace('"fnbr0"', '"fnbr\\udfff"'), fn: [7, 'lone surrogate'] },
  { name: 'a lone surrogate escape in CNI_IFNAME', env: env({ CNI_IFNAME: 'e\udfff' }), fn: 'ok' },
  { name: 'cniVersion a number', conf: v('1.0.0', { cniVersion: 1 }), fn: [6, 'cniVersion must be a string'] },
  { name: 'cniVersion 2.0.0', conf: v('2.0.0'), fn: [1, 'incompatible CNI versions'] },
  { name: 'cniVersion 1.0', conf: v('1.0'), fn: [1, 'incompatible CNI versions'] },
  { name: 'cniVersion with a space', conf: v(' 1.0.0'), fn: [1, 'incompatible CNI versions'] },
  { name: 'cniVersion 0.2.0: the result in 0.2.0 shape', conf: v('0.2.0'), fn: 'ok', sameResult: true, same: [podAddrsProbe, podRoutes] },
  { name: 'cniVersion 0.1.0', conf: v('0.1.0'), fn: 'ok', sameResult: true },
  { name: 'no cniVersion: 0.1.0, as libcni reads it', conf: v('1.0.0', { cniVersion: undefined }), fn: 'ok', sameResult: true },
  { name: 'cniVersion 0.2.0, dual stack: ip4 and ip6', conf: (s) => ({ ...ipamOnly({ ranges: [[{ subnet: '10.250.0.0/24' }], [{ subnet: 'fd61::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] })(s), cniVersion: '0.2.0' }), fn: 'ok', sameResult: true },
  { name: 'cniVersion 0.2.0 with Go host-local as the IPAM', conf: (s) => ({ ...withHostLocal(s), cniVersion: '0.2.0' }), fn: 'ok', sameResult: true },
  { name: 'DEL at cniVersion 0.2.0', verb: 'DEL', setup: setupAdd({}, v('0.2.0')), conf: v('0.2.0'), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 0, `${s.flavour}: lease kept`) },
  { name: 'VERSION lists what Go lists', env: env({ CNI_COMMAND: 'VERSION' }), fn: 'ok', after: async (s, o) => expectTrue(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'].every((x) => o.result?.supportedVersions?.includes(x)), `${s.flavour}: VERSION lists ${JSON.stringify(o.result?.supportedVersions)}`) },
  { name: 'cniVersion 0.3.0', conf: v('0.3.0'), fn: 'ok' },
  { name: 'cniVersion 0.3.1', conf: v('0.3.1'), fn: 'ok' },
  { name: 'cniVersion 0.4.0', conf: v('0.4.0'), fn: 'ok' },
  { name: 'cniVersion 1.1.0', conf: v('1.1.0'), fn: 'ok' },
  { name: 'network name missing', conf: conf({ name: undefined }), fn: [7, 'missing network name'] },
  { name: 'network name ../x', conf: conf({ name: '../x' }), fn: [7, 'invalid characters found in network name'] },
  { name: 'network name ..', conf: conf({ name: '..' }), fn: [7, 'invalid characters found in network name'] },
  { name: 'network name with a newline', conf: conf({ name: 'a\nb' }), fn: [7, 'invalid characters found in network name'] },
  { name: 'network name a number', conf: conf({ name: 5 }), fn: [7, 'network name must be a string'] },
  // --- the bridge plugin's fields ---
  { name: 'bridge "down"', conf: conf({ bridge: 'down' }), fn: 'ok', after: bridgeNamed('down') },
  { name: 'bridge "type"', conf: conf({ bridge: 'type' }), fn: 'ok', after: bridgeNamed('type') },
  { name: 'bridge "dev"', conf: conf({ bridge: 'dev' }), fn: 'ok', after: bridgeNamed('dev') },
  { name: 'bridge "help"', conf: conf({ bridge: 'help' }), fn: 'ok', after: bridgeNamed('help') },
  { name: 'bridge "master"', conf: conf({ bridge: 'master' }), fn: 'ok', after: bridgeNamed('master') },
  { name: 'bridge with a double quote', conf: conf({ bridge: 'br"0' }), fn: 'ok', after: bridgeNamed('br"0') },
  { name: 'bridge in unicode', conf: conf({ bridge: 'brü' }), fn: 'ok', after: bridgeNamed('brü') },
  { name: 'bridge br-percent-d: never a new bridge per retry', conf: conf({ bridge: 'br%d' }), fn: [7, "contains '%'"] },
  { name: 'bridge "default"', conf: conf({ bridge: 'default' }), fn: [7, 'reserved by the kernel'] },
  { name: 'bridge with #', conf: conf({ bridge: 'br#0' }), fn: [7, "contains '#'"] },
  { name: 'bridge with a space', conf: conf({ bridge: 'br 0' }), fn: [7, 'whitespace'] },
  { name: 'bridge with a newline and a command', conf: conf({ bridge: 'b\nlink del lo' }), fn: [7, 'whitespace'] },
  { name: 'bridge with a slash', conf: conf({ bridge: 'a/b' }), fn: [7, 'contains / or :'] },
  { name: 'bridge name too long', conf: conf({ bridge: 'abcdefghijklmnopq' }), fn: [7, 'too long'] },
  { name: 'bridge à (a 0xA0 byte)', conf: conf({ bridge: 'brà' }), fn: [7, 'space'] },
  { name: 'bridge empty: cni0', conf: conf({ bridge: '' }), fn: 'ok', after: bridgeNamed('cni0') },
  { name: 'bridge a number', conf: conf({ bridge: 5 }), fn: [7, 'bridge must be a string'] },
  { name: 'bridge that exists and is not a bridge', conf: conf({ bridge: 'lo' }), fn: [7, 'already exists but is not a bridge'] },
  { name: 'Bridge spelt with a capital (Go matches keys case-insensitively)', conf: conf({ bridge: undefined, Bridge: 'fnbrC' }), fn: 'ok', after: bridgeNamed('fnbrC') },
  { name: 'mtu a string', conf: conf({ mtu: '1500' }), fn: [7, 'mtu must be an integer'] },
  { name: 'mtu 70000', conf: conf({ mtu: 70000 }), fn: [7, 'mtu must be an integer'] },
  { name: 'mtu -1', conf: conf({ mtu: -1 }), fn: [7, 'mtu must be an integer'] },
  { name: 'mtu 1.5', conf: conf({ mtu: 1.5 }), fn: [7, 'mtu must be an integer'] },
  { name: 'mtu 9000', conf: conf({ mtu: 9000 }), fn: 'ok' },
  { name: 'mtu 50 (below the minimum)', conf: conf({ mtu: 50 }), fn: [7, 'mtu 50 is below 68'] },
  { name: 'mtu 68', conf: conf({ mtu: 68 }), fn: 'ok' },
  { name: 'mtu 0: the default', conf: conf({ mtu: 0 }), fn: 'ok' },
  { name: 'isGateway garbage', conf: conf({ isGateway: 'maybe' }), fn: [7, 'isGateway must be a boolean'] },
  { name: 'isGateway "true" as a string', conf: conf({ isGateway: 'true' }), fn: 'ok' },
  { name: 'hairpin and promisc', conf: conf({ hairpinMode: true, promiscMode: true }), fn: [7, 'cannot set hairpin mode and promiscuous mode'] },
  { name: 'vlan', conf: conf({ vlan: 10 }), fn: [2, 'unsupported field "vlan"'] },
  { name: 'macspoofchk: Go\'s rules; a spoofed source MAC is dropped', conf: conf({ macspoofchk: true }), fn: 'ok', same: [spoofRules], after: spoofDropped },
  { name: 'macspoofchk with ifname a"b (chain names nft text cannot spell)', conf: conf({ macspoofchk: true }), env: env({ CNI_IFNAME: 'a"b' }), fn: 'ok' },
  { name: 'macspoofchk with runtimeConfig.mac', conf: conf({ macspoofchk: true, runtimeConfig: { mac: '02:00:00:00:00:46' } }), fn: 'ok', same: [spoofRules] },
  { name: 'macspoofchk with a 253-char container id (the comment does not fit)', conf: conf({ macspoofchk: true, ipMasq: false }), env: env({ CNI_CONTAINERID: id253 }), fn: [4, 'macspoofchk: container ID and interface name make a rule comment nftables cannot hold'] },
  { name: 'macspoofchk "maybe"', conf: conf({ macspoofchk: 'maybe' }), fn: [7, 'macspoofchk must be a boolean'] },
  { name: 'CHECK with macspoofchk', verb: 'CHECK', setup: setupAdd({}, conf({ macspoofchk: true })), conf: prevWith(() => undefined, { macspoofchk: true }), fn: 'ok' },
  {
    name: 'CHECK with macspoofchk whose rules are gone',
    verb: 'CHECK',
    setup: async (s) => {
      await addOk(s, {}, conf({ macspoofchk: true })(s));
      await nodeNs(s, ['nft', 'flush', 'chain', 'bridge', 'nat', 'cni-br-iface-c1-eth0-mac']);
    },
    conf: prevWith(() => undefined, { macspoofchk: true }),
    fn: [999, 'macspoofchk: chain cni-br-iface-c1-eth0-mac does not pass only'],
  },
  { name: 'DEL with macspoofchk removes its rules and chains', verb: 'DEL', setup: setupAdd({}, conf({ macspoofchk: true })), conf: conf({ macspoofchk: true }), fn: 'ok', after: podGone, same: [spoofRules] },
  { name: 'DEL with macspoofchk, netns gone: the rules go too', verb: 'DEL', setup: setupAdd({}, conf({ macspoofchk: true })), conf: conf({ macspoofchk: true }), env: env({ CNI_NETNS: '' }), fn: 'ok', after: async (s) => {
      if (s.flavour !== 'fn') return; // Go's DEL returns before the rules when there is no netns
      const left = (await spoofRules.read(s)).filter((l) => l.includes('c1-eth0'));
      expectTrue(left.length === 0, `fn: macspoofchk rules left: ${left.join('; ')}`);
    } },
  { name: 'DEL by flatnet of a pod Go made with macspoofchk (and by Go of flatnet\'s)', verb: 'DEL', setup: otherAdd({ macspoofchk: true }), conf: conf({ macspoofchk: true }), fn: 'ok', after: podGone, same: [spoofRules] },
  {
    name: 'ipMasqBackend nftables',
    conf: conf({ ipMasqBackend: 'nftables' }),
    // Go 1.1.1 ignores the field and masquerades in iptables; flatnet uses nftables, as Go 1.6+ does.
    // DEL leaves the Go layout's table, emptied, as Go 1.6+ does: it is there from the start, so the rest is compared.
    prepare: async (s) => void (await execa('ip', ['netns', 'exec', s.node.name, 'nft', '-f', '-'], { input: GO_MASQ_TABLE })),
    fn: 'ok',
    after: nftMasqRule,
  },
  { name: 'unknown field', conf: conf({ fooBar: { x: 1 } }), fn: 'ok' },
  { name: 'portIsolation: the pod port is isolated', conf: conf({ portIsolation: true }), fn: 'ok', after: portIsolated },
  { name: 'preserveDefaultVlan alone: ignored', conf: conf({ preserveDefaultVlan: false }), fn: 'ok' },
  { name: 'vlanTrunk: ignored as Go 1.1.1 does, with a warning', conf: conf({ vlanTrunk: [{ id: 10 }, { minID: 20, maxID: 22 }] }), fn: 'ok', same: [podAddrsProbe, podRoutes], after: warned('vlanTrunk ignored') },
  { name: 'vlanTrunk with id 4095', conf: conf({ vlanTrunk: [{ id: 4095 }] }), fn: [7, 'incorrect trunk id parameter'] },
  { name: 'vlanTrunk minID without maxID', conf: conf({ vlanTrunk: [{ minID: 10 }] }), fn: [7, 'minID and maxID should be configured simultaneously, maxID is missing'] },
  { name: 'vlanTrunk minID above maxID', conf: conf({ vlanTrunk: [{ minID: 10, maxID: 5 }] }), fn: [7, 'minID is greater than maxID'] },
  { name: 'vlanTrunk not a list', conf: conf({ vlanTrunk: { id: 10 } }), fn: [7, 'vlanTrunk must be a list'] },
  { name: 'vlanTrunk empty', conf: conf({ vlanTrunk: [] }), fn: 'ok' },
  // Go 1.1.1 brings the interface up with its addresses; newer Go refuses the pair. flatnet does as 1.1.1, so the conflist keeps working.
  { name: 'disableContainerInterface with an IPAM: ignored as Go 1.1.1 does', conf: conf({ disableContainerInterface: true }), fn: 'ok', same: [podAddrsProbe, podRoutes], after: warned('disableContainerInterface ignored') },
  // Newer Go's meaning (Go 1.1.1 ignores the field and brings it up): an L2-only pod's interface stays down, and ADD does not wait for the port.
  { name: 'disableContainerInterface, L2 only: the pod interface stays down', conf: conf({ disableContainerInterface: true, ipam: undefined }), fn: 'ok', after: podIfDown },
  { name: 'disableContainerInterface "maybe"', conf: conf({ disableContainerInterface: 'maybe' }), fn: [7, 'disableContainerInterface must be a boolean'] },
  { name: 'runtimeConfig.mac', conf: conf({ runtimeConfig: { mac: '02:00:00:00:00:43' } }), fn: 'ok', after: podMac('02:00:00:00:00:43') },
  { name: 'runtimeConfig.Mac (capitalised)', conf: conf({ runtimeConfig: { Mac: '02:00:00:00:00:44' } }), fn: 'ok', after: podMac('02:00:00:00:00:44') },
  { name: 'runtimeConfig.mac invalid', conf: conf({ runtimeConfig: { mac: 'nope' } }), fn: [7, 'invalid MAC address'] },
  { name: 'runtimeConfig.mac with a command', conf: conf({ runtimeConfig: { mac: '02:00:00:00:00:45 dev lo' } }), fn: [7, 'invalid MAC address'] },
  { name: 'runtimeConfig a string', conf: conf({ runtimeConfig: 'x' }), fn: [7, 'runtimeConfig must be an object'] },
  { name: 'runtimeConfig.ips', conf: conf({ runtimeConfig: { ips: ['10.250.0.7/24'] } }), fn: 'ok', after: gotIp('10.250.0.7/24') },
  { name: 'runtimeConfig.IPs (capitalised)', conf: conf({ runtimeConfig: { IPs: ['10.250.0.8/24'] } }), fn: 'ok', after: gotIp('10.250.0.8/24') },
  { name: 'runtimeConfig.ips not an address', conf: conf({ runtimeConfig: { ips: ['10.250.0.999'] } }), fn: [7, 'runtimeConfig.ips'] },
  { name: 'runtimeConfig.ips outside every range', conf: conf({ runtimeConfig: { ips: ['10.9.0.7/24'] } }), fn: [101, 'failed to allocate all requested IPs'] },
  { name: 'runtimeConfig.ipRanges before ipam.ranges: two IPv4 gateways', conf: conf({ runtimeConfig: { ipRanges: [[{ subnet: '10.251.0.0/24' }]] } }), fn: 'ok' },
  { name: 'runtimeConfig.ipRanges as containerd sends them (Subnet)', conf: ipamOnly({}, { runtimeConfig: { ipRanges: [[{ Subnet: '10.251.0.0/24', RangeStart: '10.251.0.20' }]] } }), fn: 'ok', after: gotIp('10.251.0.20/24') },
  { name: 'runtimeConfig.IPRanges key capitalised', conf: ipamOnly({}, { runtimeConfig: { IPRanges: [[{ subnet: '10.251.0.0/24' }]] } }), fn: 'ok', after: gotIp('10.251.0.2/24') },
  { name: 'args.cni.ips', conf: conf({ args: { cni: { ips: ['10.250.0.11'] } } }), fn: 'ok', after: gotIp('10.250.0.11/24') },
  // --- IPAM ---
  { name: 'no ipam (L2 only)', conf: conf({ ipam: undefined }), fn: 'ok' },
  { name: 'no ipam (L2 only) at cniVersion 0.2.0', conf: (s) => ({ ...conf({ ipam: undefined })(s), cniVersion: '0.2.0' }), fn: 'ok', after: l2Result('0.2.0') },
  { name: 'no ipam (L2 only) at cniVersion 0.1.0', conf: (s) => ({ ...conf({ ipam: undefined })(s), cniVersion: '0.1.0' }), fn: 'ok', after: l2Result('0.1.0') },
  { name: 'ipam without a type (L2 only)', conf: conf({ ipam: { ranges: [[{ subnet: '10.250.0.0/24' }]] } }), fn: 'ok' },
  { name: 'ipam a string', conf: conf({ ipam: 'host-local' }), fn: [7, 'ipam must be an object'] },
  { name: 'ipam plugin not on CNI_PATH', conf: (s) => ({ ...baseConf(s), ipam: { ...baseConf(s).ipam, type: 'no-such-ipam' } }), fn: [7, 'failed to find plugin "no-such-ipam"'] },
  { name: 'ipam type a path', conf: (s) => ({ ...baseConf(s), ipam: { ...baseConf(s).ipam, type: '../../bin/sh' } }), fn: [7, 'invalid plugin name'] },
  // Found from outside: the top-level keys were read by their exact names.
  { name: 'network name given as "Name"', conf: (s) => { const { name, ...rest } = baseConf(s); return { ...rest, Name: name }; }, fn: 'ok', after: async (s) => expectTrue(leases(s).length === 1, 'no lease under the network Name names') },
  { name: 'name and NAME both given: the later one is the network', conf: (s) => ({ ...baseConf(s), NAME: 'fntother' }), fn: 'ok', after: async (s) => expectTrue(leases(s, 'fntother').length === 1 && leases(s).length === 0, 'the lease is not under NAME') },
  { name: 'cniVersion and CNIVersion both given: the later one', conf: (s) => ({ ...baseConf(s, { version: '0.3.1' }), CNIVersion: '1.0.0' }), fn: 'ok', after: async (s, o) => expectTrue(o.result?.cniVersion === '1.0.0', `result version ${o.result?.cniVersion}`) },
  { name: 'bridge then Bridge null: the bridge named first', conf: (s) => ({ ...baseConf(s), Bridge: null }), fn: 'ok', after: async (s, o) => expectTrue(o.result?.interfaces?.[0]?.name === 'fnbr0', `attached to ${o.result?.interfaces?.[0]?.name}`) },
  { name: 'subnet spelled with the long s (U+017F), as Go folds keys', conf: ipamOnly({ ranges: [[{ \u017fubnet: '10.251.0.0/24' }]] }), fn: 'ok', after: gotIp('10.251.0.2/24') },
  { name: 'ipam ranges and Ranges both given: the later key wins, as Go decodes', conf: ipamOnly({ ranges: [[{ subnet: '10.251.0.0/24' }]], Ranges: [[{ subnet: '10.252.0.0/24' }]] }), fn: 'ok', after: gotIp('10.252.0.2/24') },
  { name: 'ipam ranges empty', conf: ipamOnly({ ranges: [] }), fn: [7, 'no IP ranges specified'] },
  { name: 'ipam ranges a string', conf: ipamOnly({ ranges: 'x' }), fn: [7, 'ipam.ranges must be a list'] },
  { name: 'subnet /33', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/33' }]] }), fn: [7, 'is not a CIDR'] },
  { name: 'subnet with host bits', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.1/24' }]] }), fn: [7, 'Network has host bits set'] },
  { name: 'subnet /31', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/31' }]] }), fn: [7, 'too small to allocate from'] },
  { name: 'subnet /30: one address', conf: ipamOnly({ ranges: [[{ subnet: '10.252.0.0/30' }]] }), fn: 'ok', after: gotIp('10.252.0.2/30'), same: [podAddrsProbe, bridgeAddrs] },
  { name: 'IPv4 addresses of pod and bridge carry their broadcast', fn: 'ok', same: [podAddrsProbe, bridgeAddrs] },
  { name: 'store files have the modes Go host-local gives them', fn: 'ok', same: [storeModes] },
  { name: 'dual stack: addresses with their broadcast, routes', conf: ipamOnly({ ranges: [[{ subnet: '10.250.0.0/24' }], [{ subnet: 'fd61::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] }), fn: 'ok', same: [podAddrsProbe, bridgeAddrs, podRoutes] },
  { name: 'subnet with a command', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24 dev lo' }]] }), fn: [7, 'is not a CIDR'] },
  { name: 'subnet missing', conf: ipamOnly({ ranges: [[{ gateway: '10.0.0.1' }]] }), fn: [7, 'subnet is required'] },
  { name: 'gateway not an IP', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24', gateway: 'gw' }]] }), fn: [7, 'gateway "gw" is not an IP address'] },
  { name: 'gateway outside the subnet', conf: ipamOnly({ ranges: [[{ subnet: '10.250.0.0/24', gateway: '10.9.9.1' }]] }), fn: 'ok' },
  { name: 'rangeStart outside the subnet', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.1.0.1' }]] }), fn: [7, 'RangeStart 10.1.0.1 not in network'] },
  { name: 'rangeEnd before rangeStart', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.10' }]] }), fn: [7, 'is after RangeEnd'] },
  { name: 'overlapping range sets', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]] }), fn: [7, 'overlaps'] },
  { name: 'mixed families in a set', conf: ipamOnly({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }), fn: [7, 'mixed address families'] },
  { name: 'IPv6 only', conf: ipamOnly({ ranges: [[{ subnet: 'fd61::/64' }]], routes: [{ dst: '::/0' }] }), fn: 'ok', after: gotIp('fd61::2/64') },
  { name: 'dual stack', conf: ipamOnly({ ranges: [[{ subnet: '10.250.0.0/24' }], [{ subnet: 'fd61::/64' }]] }), fn: 'ok' },
  { name: 'IPv6 with enabledad: ADD returns once DAD is done', conf: (s) => ({ ...ipamOnly({ ranges: [[{ subnet: 'fd61::/64' }]] })(s), enabledad: true }), fn: 'ok', same: [podTentative] },
  { name: 'IPv6 subnet /127', conf: ipamOnly({ ranges: [[{ subnet: 'fd61::/127' }]] }), fn: [7, 'too small to allocate from'] },
  { name: 'IPv4-mapped IPv6 subnet', conf: ipamOnly({ ranges: [[{ subnet: '::ffff:10.75.0.0/120' }]] }), fn: [7, 'IPNet IP and Mask version mismatch'] },
  { name: 'IPv6 subnet with host bits', conf: ipamOnly({ ranges: [[{ subnet: 'fd61::1/64' }]] }), fn: [7, 'Network has host bits set'] },
  { name: 'IPv6 subnet with a zone', conf: ipamOnly({ ranges: [[{ subnet: 'fe80::%eth0/64' }]] }), fn: [7, 'is not a CIDR'] },
  { name: 'route gateway with a zone', conf: conf({}, { routes: [{ dst: 'fd00::/8', gw: 'fe80::1%lo' }] }), fn: [7, 'ipam.routes[0].gw must be an IP address'] },
  { name: 'two IPv4 range sets: the bridge takes the first gateway', conf: ipamOnly({ ranges: [[{ subnet: '10.250.0.0/24' }], [{ subnet: '10.251.0.0/24' }]] }), fn: 'ok' },
  { name: 'route gw of the other family', conf: conf({}, { routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }), fn: [7, 'is not in the address family of dst'] },
  { name: 'isDefaultGateway with a default route from the IPAM', conf: conf({ isDefaultGateway: true }), fn: 'ok' },
  { name: 'isDefaultGateway, no IPAM routes', conf: conf({ isDefaultGateway: true }, { routes: [] }), fn: 'ok' },
  { name: 'runtimeConfig.mac in upper case', conf: conf({ runtimeConfig: { mac: '02:AA:BB:CC:DD:EE' } }), fn: 'ok', after: podMac('02:aa:bb:cc:dd:ee') },
  { name: 'legacy subnet field', conf: ipamOnly({ subnet: '10.253.0.0/24' }), fn: 'ok', after: gotIp('10.253.0.2/24') },
  { name: 'route dst "default"', conf: conf({}, { routes: [{ dst: 'default' }] }), fn: [7, 'ipam.routes[0].dst must be a CIDR'] },
  { name: 'route gw not an IP', conf: conf({}, { routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }), fn: [7, 'ipam.routes[0].gw must be an IP address'] },
  { name: 'dataDir a regular file', prepare: async (s) => writeFileSync(join(s.tmp, 'file'), 'x'), conf: (s) => conf({}, { dataDir: join(s.tmp, 'file') })(s), fn: [5, 'ipam.dataDir must be a writable directory'] },
  { name: 'relative dataDir', cwd: (s) => s.tmp, conf: conf({}, { dataDir: 'rel' }), fn: 'ok' },
  { name: 'resolvConf missing', conf: conf({}, { resolvConf: '/nonexistent/resolv.conf' }), fn: [7, 'resolvConf'] },
  { name: 'resolvConf', prepare: async (s) => writeFileSync(join(s.tmp, 'resolv.conf'), 'nameserver 10.0.0.53\nsearch a.b\n'), conf: (s) => conf({}, { resolvConf: join(s.tmp, 'resolv.conf') })(s), fn: 'ok' },
  { name: 'dns with a non-string nameserver', conf: conf({ dns: { nameservers: [5] } }), fn: [7, 'dns.nameservers[0] must be a string'] },
  { name: '1 MiB config', conf: conf({ pad: 'x'.repeat(1 << 20) }), fn: 'ok' },
  { name: '5 MiB config', conf: conf({ pad: 'x'.repeat(5 << 20) }), fn: [7, 'network config is larger than'] },
  { name: 'JSON nested 2,000 deep', conf: raw(deep(2000)), fn: 'ok' },
  { name: 'JSON nested 5,000 deep', conf: raw(deep(5000)), fn: [6, 'stack overflow'] },
  { name: 'JSON nested 20,000 deep', conf: raw(deep(20000)), fn: [6, 'error unmarshall network config'] },
  { name: 'duplicate keys: the last wins', conf: (s) => JSON.stringify(baseConf(s)).replace('"bridge":"fnbr0"', '"bridge":"fnbrX","bridge":"fnbrY"'), bridge: 'fnbrY', fn: 'ok', after: bridgeNamed('fnbrY') },
  // --- repeated ADD ---
  // Into the same pod: its interface is there, so refused before anything runs (as Go, which sets up the veth first).
  { name: 'repeated ADD of the same container', setup: setupAdd(), fn: [103, 'already exists'], after: firstPodIntact },
  { name: 'repeated ADD asking for another IP', setup: setupAdd(), conf: conf({ runtimeConfig: { ips: ['10.250.0.77/24'] } }), fn: [103, 'already exists'], after: firstPodIntact },
  { name: 'repeated ADD asking for its own IP', setup: setupAdd(), conf: (s) => conf({ runtimeConfig: { ips: [s.prev.ips[0].address] } })(s), fn: [103, 'already exists'], after: firstPodIntact },
  { name: 'repeated ADD into another pod namespace', prepare: async (s) => void (await execa('ip', ['netns', 'add', `${s.pod.name}2`])), setup: setupAdd(), env: netns((s) => `${s.pod.path}2`), fn: [102, 'duplicate allocation is not allowed'], after: async (s) => { await execa('ip', ['netns', 'del', `${s.pod.name}2`]); await firstPodIntact(s); } },
  {
    name: 'repeated ADD asking for another IP, with Go host-local as the IPAM',
    setup: async (s) => void (await addOk(s, {}, withHostLocal(s))),
    conf: (s) => ({ ...withHostLocal(s), runtimeConfig: { ips: ['10.250.0.77/24'] } }),
    fn: [103, 'already exists'],
    after: firstPodIntact,
  },
  // --- routes the pod has already (found from outside: flatnet said 999 "File exists") ---
  { name: 'pod has a default route of another network', prepare: otherNetwork(['default', 'via', '10.9.0.1', 'dev', 'oth0']), fn: 'ok', same: [podRoutes] },
  { name: 'pod has an IPv6 default route of another network: one multipath route', prepare: otherNetwork(['-6', 'default', 'via', 'fd99::1', 'dev', 'oth0']), conf: ipamOnly({ ranges: [[{ subnet: 'fd61::/64' }]], routes: [{ dst: '::/0' }] }), fn: 'ok', same: [podRoutes] },
  { name: 'pod has a specific route via another interface', prepare: otherNetwork(['10.1.0.0/16', 'via', '10.9.0.1', 'dev', 'oth0']), conf: conf({}, { routes: [{ dst: '10.1.0.0/16' }] }), fn: 'ok', same: [podRoutes] },
  { name: 'second interface of the same network, both with the default route', setup: setupAdd(), env: env({ CNI_IFNAME: 'eth1' }), fn: 'ok', same: [podRoutes] },
  { name: "IPAM route to the pod's own subnet via the gateway", conf: conf({}, { routes: [{ dst: '10.250.0.0/24' }] }), fn: 'ok', same: [podRoutes] },
  { name: 'IPAM lists the default route twice', conf: conf({}, { routes: [{ dst: '0.0.0.0/0' }, { dst: '0.0.0.0/0', gw: '10.250.0.1' }] }), fn: 'ok' },
  // --- a bridge that is there already (found from outside: flatnet said 7 "already has an IP address different") ---
  { name: 'bridge holds the gateway and node-local DNS 169.254.20.10/32', prepare: bridgeWith('10.250.0.1/24', '169.254.20.10/32'), fn: 'ok', same: [bridgeAddrs, podRoutes] },
  { name: 'bridge holds another IPv4 address listed before the gateway', prepare: bridgeWith('169.254.20.10/32', '10.250.0.1/24'), fn: 'ok', after: async (s, o) => expectTrue(o.exitCode !== 0 || (await bridgeAddrs.read(s)).length === 2, `${s.flavour}: the bridge lost an address`) },
  { name: 'bridge made by the plugin takes no router advertisements (IPv4-only network)', fn: 'ok', same: [bridgeAcceptRa] },
  { name: 'bridge there already takes no router advertisements after ADD', prepare: bridgeWith('10.250.0.1/24'), fn: 'ok', same: [bridgeAcceptRa], after: async (s, o) => expectTrue(o.exitCode !== 0 || (await bridgeAcceptRa.read(s))[0] === '0', `${s.flavour}: accept_ra is not 0`) },
  { name: 'bridge holds another IPv4 address and not the gateway', prepare: bridgeWith('10.9.0.1/24'), fn: [7, 'already has an IP address different from 10.250.0.1/24'] },
  // --- DEL ---
  { name: 'DEL of what was never added', verb: 'DEL', fn: 'ok' },
  { name: 'DEL with the netns gone', verb: 'DEL', setup: setupAdd(), env: netns(() => '/var/run/netns/fnt-gone'), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 0, `${s.flavour}: lease kept`) },
  { name: 'DEL with CNI_NETNS empty', verb: 'DEL', setup: setupAdd(), env: env({ CNI_NETNS: '' }), fn: 'ok', after: async (s) => {
      if (s.flavour !== 'fn') return; // Go's DEL returns before the rules when there is no netns
      const left = (await spoofRules.read(s)).filter((l) => l.includes('c1-eth0'));
      expectTrue(left.length === 0, `fn: macspoofchk rules left: ${left.join('; ')}`);
    } },
  { name: 'DEL with a netns path holding ip commands', verb: 'DEL', setup: setupAdd(), env: netns((s) => `${s.pod.path}\nlink del lo`), fn: 'ok' },
  { name: 'DEL with a netns that is a regular file', verb: 'DEL', prepare: async (s) => writeFileSync(join(s.tmp, 'f'), 'x'), env: netns((s) => join(s.tmp, 'f')), fn: [4, 'is not a network namespace'] },
  { name: 'DEL twice', verb: 'DEL', setup: async (s) => { await addOk(s); await call(s, defaultEnv(s, 'DEL'), JSON.stringify(baseConf(s))); }, fn: 'ok' },
  { name: 'DEL of another ifname keeps the lease', verb: 'DEL', setup: setupAdd(), env: env({ CNI_IFNAME: 'eth1' }), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 1, `${s.flavour}: lease of eth0 gone`) },
  { name: 'DEL of a 253-char container with ipMasq', verb: 'DEL', setup: setupAdd({ CNI_CONTAINERID: id253 }), env: env({ CNI_CONTAINERID: id253 }), go: false, fn: 'ok' },
  { name: 'DEL with ifname "type"', verb: 'DEL', setup: setupAdd({ CNI_IFNAME: 'type' }), env: env({ CNI_IFNAME: 'type' }), fn: 'ok' },
  { name: 'DEL, prevResult address with iptables words', verb: 'DEL', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.0.0.5/24 -j ACCEPT')), fn: 'ok' },
  { name: 'DEL, prevResult address with a newline', verb: 'DEL', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.250.0.2/24\n-A POSTROUTING -j ACCEPT')), fn: 'ok' },
  { name: 'DEL, prevResult of another address', verb: 'DEL', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.250.0.99/24')), fn: 'ok' },
  { name: 'DEL, prevResult ips not a list', verb: 'DEL', setup: setupAdd(), conf: prevWith((p) => (p.ips = 'x')), fn: 'ok' },
  { name: 'DEL, prevResult not an object', verb: 'DEL', setup: setupAdd(), conf: prevWith(() => undefined, {}), fn: 'ok' },
  { name: 'DEL with ifname eth-percent-d', verb: 'DEL', env: env({ CNI_IFNAME: 'eth%d' }), fn: [4, "contains '%'"] },
  { name: 'DEL with ifname "a#b"', verb: 'DEL', env: env({ CNI_IFNAME: 'a#b' }), fn: [4, "contains '#'"] },
  { name: 'DEL with hairpinMode with promiscMode in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ hairpinMode: true, promiscMode: true }), fn: 'ok', after: podGone },
  { name: 'DEL with vlan in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ vlan: 10 }), fn: 'ok', after: podGone },
  { name: 'DEL with macspoofchk in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ macspoofchk: true }), fn: 'ok', after: podGone },
  { name: 'DEL with vlanTrunk in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ vlanTrunk: [{ id: 10 }] }), fn: 'ok', after: podGone },
  { name: 'DEL with portIsolation in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ portIsolation: true }), fn: 'ok', after: podGone },
  { name: 'DEL with disableContainerInterface in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ disableContainerInterface: true }), fn: 'ok', after: podGone },
  { name: 'DEL with preserveDefaultVlan in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ vlan: 10, preserveDefaultVlan: false }), fn: 'ok', after: podGone },
  { name: 'DEL with an MTU below 68 in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ mtu: 50 }), fn: 'ok', after: podGone },
  { name: 'DEL with ipMasqBackend "pf" in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ ipMasqBackend: 'pf' }), fn: 'ok', after: podGone },
  { name: 'DEL with a bad MAC in the config removes the pod', verb: 'DEL', setup: setupAdd(), conf: conf({ runtimeConfig: { mac: 'zz' } }), fn: 'ok', after: podGone },
  { name: 'DEL, bad config still refused', verb: 'DEL', conf: ipamOnly({ ranges: 'x' }), fn: [7, 'ipam.ranges must be a list'] },
  // --- CHECK ---
  { name: 'CHECK of a good pod', verb: 'CHECK', setup: setupAdd(), conf: prevWith(() => undefined), fn: 'ok' },
  { name: 'CHECK without prevResult', verb: 'CHECK', setup: setupAdd(), fn: [7, 'Required prevResult missing'] },
  { name: 'CHECK, prevResult address with iptables words', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.0.0.5/24 -j ACCEPT')), fn: [6, 'is not a CIDR'] },
  { name: 'CHECK, prevResult address with a newline', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.250.0.2/24\nlink del lo')), fn: [6, 'is not a CIDR'] },
  { name: 'CHECK, prevResult of another address', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.ips[0].address = '10.250.0.99/24')), fn: [999, 'address 10.250.0.99/24 is missing'] },
  { name: 'CHECK, prevResult ips not a list', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.ips = 'x')), fn: [6, 'ips must be a list'] },
  { name: 'CHECK, prevResult route gw with a command', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.routes = [{ dst: '0.0.0.0/0', gw: '10.250.0.1 dev lo' }])), fn: [6, 'route'] },
  { name: 'CHECK, prevResult interface name with a newline', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.interfaces[2].name = 'eth0\nlink del lo')), fn: [999, 'prevResult has no interface eth0'] },
  { name: 'CHECK, prevResult of version 9.9.9', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => (p.cniVersion = '9.9.9')), fn: [1, 'unsupported CNI result version'] },
  { name: 'CHECK at 0.3.1', verb: 'CHECK', setup: setupAdd(), conf: (s) => ({ ...v('0.3.1')(s), prevResult: s.prev }), fn: [1, 'config version does not allow CHECK'] },
  // Found from outside: an interface index pointing away from the pod made a lost address pass.
  { name: 'CHECK, pod address flushed, prevResult index at the bridge', verb: 'CHECK', setup: async (s) => { await addOk(s); await ns(s, ['ip', 'addr', 'flush', 'dev', 'eth0']); }, conf: prevWith((p) => (p.ips[0].interface = 0)), fn: [999, 'missing'] },
  { name: 'CHECK, another address, prevResult index out of range', verb: 'CHECK', setup: setupAdd(), conf: prevWith((p) => { p.ips[0].interface = 99; p.ips[0].address = '10.250.0.99/24'; }), fn: [999, 'address 10.250.0.99/24 is missing'] },
  { name: 'CHECK with the result as "PrevResult"', verb: 'CHECK', setup: setupAdd(), conf: (s) => ({ ...baseConf(s), PrevResult: s.prev }), fn: 'ok' },
  { name: 'CHECK after the pod interface was removed', verb: 'CHECK', setup: async (s) => { await addOk(s); await ns(s, ['ip', 'link', 'del', 'eth0']); }, conf: prevWith(() => undefined), fn: [999, 'missing'] },
  // --- spec 1.1.0 only: flatnet against the spec ---
  { name: 'GC releases what is not valid', verb: 'GC', go: false, setup: setupAdd({}, v('1.1.0')), conf: v('1.1.0', { 'cni.dev/valid-attachments': [] }), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 0, 'GC kept a lease') },
  { name: 'GC keeps what is valid', verb: 'GC', go: false, setup: setupAdd({}, v('1.1.0')), conf: v('1.1.0', { 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 1, 'GC released a valid lease') },
  { name: 'GC, valid-attachments keys in another case (Go decodes them)', verb: 'GC', go: false, setup: setupAdd({}, v('1.1.0')), conf: v('1.1.0', { 'cni.dev/valid-attachments': [{ containerId: 'c1', IfName: 'eth0' }] }), fn: 'ok', after: async (s) => expectTrue(leases(s).length === 1, 'GC released a valid lease') },
  { name: 'GC without valid-attachments releases nothing', verb: 'GC', go: false, setup: setupAdd({}, v('1.1.0')), conf: v('1.1.0'), fn: [7, 'GC without cni.dev/valid-attachments'], after: async (s) => expectTrue(leases(s).length === 1, 'GC released a lease') },
  { name: 'GC, valid-attachments not a list', verb: 'GC', go: false, conf: v('1.1.0', { 'cni.dev/valid-attachments': {} }), fn: [7, 'must be a list'] },
  { name: 'GC, an attachment without ifname', verb: 'GC', go: false, conf: v('1.1.0', { 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }), fn: [7, 'cni.dev/valid-attachments[0]'] },
  { name: 'GC at 1.0.0', verb: 'GC', go: false, fn: [1, 'config version does not allow GC'] },
  { name: 'STATUS', verb: 'STATUS', go: false, conf: v('1.1.0'), fn: 'ok' },
  { name: 'STATUS with the range exhausted', verb: 'STATUS', go: false, setup: setupAdd({}, (s) => ({ ...v('1.1.0')(s), ipam: { ...baseConf(s).ipam, ranges: [[{ subnet: '10.252.0.0/30' }]] } })), conf: (s) => ({ ...v('1.1.0')(s), ipam: { ...baseConf(s).ipam, ranges: [[{ subnet: '10.252.0.0/30' }]] } }), fn: [50, 'no IP addresses available'] },
  { name: 'ADD at 1.1.0 with ifname "type"', go: false, env: env({ CNI_IFNAME: 'type' }), conf: v('1.1.0'), fn: 'ok' },
];

interface Run {
  outcome: Outcome;
  /** The case's `same` probes, read right after the call. */
  readings?: Record<string, string[]>;
  /** What this side left behind or got wrong in the case's own checks. */
  leftovers: string[];
}

type Snapshot = { node: NsState; pod: NsState; store: Record<string, string> };
const snapshot = async (s: Side): Promise<Snapshot> => ({ node: await nsState(s.node), pod: await nsState(s.pod), store: storeFiles(s.data) });
const bridgeOf = (c: object | string | Buffer): string | undefined => {
  if (typeof c === 'string' || Buffer.isBuffer(c)) return 'fnbr0';
  const b = (c as any).bridge ?? (c as any).Bridge;
  return typeof b === 'string' ? b || 'cni0' : 'cni0';
};
const strip = (s: Snapshot, br: string | undefined): Snapshot => ({ node: withoutLink(s.node, br), pod: s.pod, store: s.store });
const diff = (what: string, a: Snapshot, b: Snapshot): string[] => {
  const out: string[] = [];
  for (const k of ['node', 'pod'] as const) {
    for (const f of ['links', 'routes', 'iptables', 'nft'] as const) {
      const before = new Set(a[k][f]);
      const after = new Set(b[k][f]);
      for (const x of after) if (!before.has(x)) out.push(`${what}: ${k} gained ${f} ${JSON.stringify(x)}`);
      for (const x of before) if (!after.has(x)) out.push(`${what}: ${k} lost ${f} ${JSON.stringify(x)}`);
    }
  }
  for (const f of new Set([...Object.keys(a.store), ...Object.keys(b.store)])) {
    if (a.store[f] !== b.store[f]) out.push(`${what}: store file ${f} was ${JSON.stringify(a.store[f])}, now ${JSON.stringify(b.store[f])}`);
  }
  return out;
};

/** One case on one side; for flatnet, everything it left behind. */
async function runSide(c: Case, s: Side): Promise<Run> {
  const verb = c.verb ?? 'ADD';
  const fn = s.flavour === 'fn';
  await c.prepare?.(s);
  const base = fn ? await snapshot(s) : undefined;
  await c.setup?.(s);
  const e: Env = { ...defaultEnv(s, verb), ...c.env?.(s) };
  const stdinConf = c.conf ? c.conf(s) : baseConf(s);
  const stdin = typeof stdinConf === 'string' || Buffer.isBuffer(stdinConf) ? stdinConf : JSON.stringify(stdinConf);
  const opts = c.cwd ? { cwd: c.cwd(s) } : {};
  const pre = fn ? await snapshot(s) : undefined;
  const outcome = await call(s, e, stdin, opts);
  const readings: Record<string, string[]> = {};
  for (const p of c.same ?? []) readings[p.name] = await p.read(s);
  const post = fn ? await snapshot(s) : undefined;
  const leftovers: string[] = [];
  try {
    await c.after?.(s, outcome);
  } catch (err) {
    leftovers.push(`${s.flavour}: ${(err as Error).message}`);
  }
  if (!base || !pre || !post) return { outcome, leftovers, readings };
  const br = c.bridge ?? bridgeOf(stdinConf);
  if (outcome.exitCode !== 0 || verb === 'CHECK' || verb === 'STATUS') {
    // A bridge made before the failing step stays, down and without addresses, as Go's does:
    // deleting it could pull it from under a concurrent ADD's veth. So do macspoofchk's table and base chain.
    const madeBridge = (l: string) => l !== `${br} bridge`;
    leftovers.push(...diff(`after ${verb}`, pre, { ...post, node: { ...post.node, links: post.node.links.filter(madeBridge), nft: post.node.nft.filter((l) => !SHARED_NFT.has(l) || pre.node.nft.includes(l)) } }));
  } else if (verb === 'ADD' && e.CNI_COMMAND === 'ADD') {
    const del = await call(s, { ...e, CNI_COMMAND: 'DEL' }, stdin, opts);
    if (del.exitCode !== 0) leftovers.push(`DEL after ADD failed: ${del.stdout}`);
    leftovers.push(...diff('after ADD+DEL', strip(pre, br), strip(await snapshot(s), br)));
  }
  // The setup's pods go too (one the case's DEL removed already is fine to DEL again): then nothing of any pod may remain.
  for (const a of s.added) await call(s, { ...a.env, CNI_COMMAND: 'DEL' }, a.stdin);
  leftovers.push(...diff('at the end', strip(base, br), strip(await snapshot(s), br)));
  return { outcome, leftovers, readings };
}

const show = (o: Outcome): string => (o.exitCode === 0 ? 'ok' : o.error ? `${o.error.code} ${o.error.msg}${o.error.details ? ` (${o.error.details})` : ''}` : `exit ${o.exitCode}, no error object: ${JSON.stringify(o.stdout.slice(0, 200))}`);

/** Why flatnet's outcome is not as good as Go's, or undefined. */
function versusGo(go: Outcome, fn: Outcome): string | undefined {
  if (go.exitCode === 0) return fn.exitCode === 0 ? undefined : 'Go succeeds, flatnet refuses';
  if (fn.exitCode === 0) return `Go refuses (${show(go)}), flatnet succeeds`;
  if (!go.error) return undefined; // Go printed no error object: any CNI error is better
  if (fn.error?.code === go.error.code) return undefined;
  if (go.error.code === 999 && fn.error && fn.error.code !== 999) return undefined; // a well-known code is better
  return `Go says ${go.error.code}, flatnet ${fn.error?.code}`;
}

function checkExpect(c: Case, fn: Outcome): string | undefined {
  if (c.fn === 'ok') return fn.exitCode === 0 ? undefined : `want success, got ${show(fn)}`;
  const [code, msg] = c.fn;
  if (!fn.error) return `want code ${code}, got ${show(fn)}`;
  const text = `${fn.error.msg} ${fn.error.details ?? ''}`;
  if (fn.error.code !== code || !(typeof msg === 'string' ? text.includes(msg) : msg.test(text))) return `want ${code} ${msg}, got ${show(fn)}`;
  if (/undefined|\[object |NaN/.test(text)) return `useless message: ${text}`;
  return undefined;
}

describe.runIf(isRoot()).concurrent('flatnet vs Go bridge+host-local on the same bad input', () => {
  it('has more than 100 cases', ({ expect }) => {
    expect(cases.length).toBeGreaterThan(100);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(Object.keys(KNOWN_DIFFERENCES).filter((n) => !cases.some((c) => c.name === n)), 'known differences of no case').toEqual([]);
  });

  it.for(cases)('$name', async (c, { expect }) => {
    const sides: Side[] = [];
    try {
      const fn = await makeSide('fn');
      sides.push(fn);
      const go = c.go === false ? undefined : await makeSide('go');
      if (go) sides.push(go);
      const [f, g] = await Promise.all([runSide(c, fn), go ? runSide(c, go) : Promise.resolve(undefined)]);
      if (process.env.DIFF_REPORT) {
        appendFileSync(process.env.DIFF_REPORT, `${JSON.stringify({ name: c.name, go: g && show(g.outcome), goOut: g?.outcome.stdout.slice(0, 600), goLeft: g?.leftovers, fn: show(f.outcome), fnOut: f.outcome.stdout.slice(0, 600), leftovers: f.leftovers })}\n`);
      }
      const problems: string[] = [];
      const e = checkExpect(c, f.outcome);
      if (e) problems.push(e);
      if (g) {
        const vs = versusGo(g.outcome, f.outcome);
        const why = KNOWN_DIFFERENCES[c.name];
        if (vs && !why) problems.push(`${vs} (Go: ${show(g.outcome)})`);
        if (!vs && why && why !== GO_SKIP_11) problems.push(`the case says flatnet differs from Go (${why}), but Go agrees: ${show(g.outcome)}`);
      }
      if (g && f.outcome.exitCode === 0 && g.outcome.exitCode === 0) {
        if (c.sameResult && JSON.stringify(f.outcome.result) !== JSON.stringify(g.outcome.result)) problems.push(`results differ: flatnet ${f.outcome.stdout}, Go ${g.outcome.stdout}`);
        for (const p of c.same ?? []) {
          const [a, b] = [JSON.stringify(f.readings?.[p.name]), JSON.stringify(g.readings?.[p.name])];
          if (!f.readings?.[p.name]?.length) problems.push(`${p.name}: read nothing`);
          else if (a !== b) problems.push(`${p.name} differ: flatnet ${a}, Go ${b}`);
        }
      }
      problems.push(...f.leftovers, ...(g?.leftovers ?? []));
      if (c.defect) {
        expect(problems, `known defect no longer found (remove the marker): ${c.defect}`).not.toEqual([]);
        expect(problems.filter((p) => p.startsWith('go:')), 'Go side of a known-defect case').toEqual([]);
      } else expect(problems).toEqual([]);
    } finally {
      for (const s of sides) await dropSide(s);
    }
  });
});

