// The `ip -batch` printer against a model of how iproute2 reads a line
// (ipBatchWords: getcmdline's '#' comments + makeargs' quoting): for any valid
// op — names drawn from everything parseIfName accepts (unicode, one kind of
// quote, '\', keywords such as "down", "dev", "type", "help") — the printed
// line splits into exactly the argv the op means, names as single words in
// the places that take a name. Then, as root in a throw-away namespace, the
// real `ip -batch` makes and removes links with a sample of such names and
// `ip -j link` reads back exactly those names: the model is iproute2's and
// the kernel takes every name parseIfName does.
import { closeSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Addr, type Cidr, formatCidr, formatIp, parseCidr, parseIp } from '../../src/net/cidr.ts';
import { type IfName, ifNameProblem, type Mac, utf8Length } from '../../src/net/names.ts';
import { ipBatchWords, ipLine, netnsFdPath } from '../../src/sys/ip-batch.ts';
import type { LinkOp, Netns } from '../../src/sys/kernel.ts';

// Words `ip` gives a meaning to somewhere in the commands flatnet prints.
const KEYWORDS = ['down', 'up', 'dev', 'type', 'help', 'name', 'master', 'nomaster', 'address', 'mtu', 'netns', 'peer', 'veth', 'bridge', 'bridge_slave', 'hairpin', 'isolated', 'promisc', 'on', 'off', 'nodad', 'via', 'proto', 'metric', 'table', 'scope', 'nhid', 'id', 'link', 'addr', 'route', 'nexthop', 'add', 'del', 'set', 'replace', 'default', 'all', 'lo', 'to', 'label', '-j', '-batch', '-force', '-n', 'dummy', 'vrf'];
const CHARS = [...'abcxyzABZ0189-_.@!$%^&*()[]{}<>,;=+~`|?\\', '"', "'", 'é', 'ü', 'ß', 'ñ', 'Ω', 'ж', '日', '本', '€', '😀', '\u0085', '\u00ad', '\u200b', 'à', '\u00a0', '#', ' ', ':', '/', '\t', '\udfff'];

const isName = (s: string): boolean => ifNameProblem(s) === undefined;
/** Every string parseIfName accepts is a candidate; unusable ones are filtered by parseIfName's own rule. */
export const ifName: fc.Arbitrary<IfName> = fc
  .oneof(
    { weight: 1, arbitrary: fc.constantFrom(...KEYWORDS) },
    { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...CHARS), minLength: 1, maxLength: 15 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 5 }) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...KEYWORDS), fc.constantFrom('"', "'", '\\', 'é')).map(([k, c]) => `${k}${c}`) },
  )
  .filter(isName)
  .map((s) => s as IfName);

const addr4 = fc.ipV4().map((s) => parseIp(s)!);
const addr6 = fc.ipV6().map((s) => parseIp(s)!);
const addr: fc.Arbitrary<Addr> = fc.oneof(addr4, addr6);
const cidr: fc.Arbitrary<Cidr> = addr.chain((a) => fc.integer({ min: 0, max: a.family === 4 ? 32 : 128 }).map((prefix) => ({ ...a, prefix })));
const mac: fc.Arbitrary<Mac> = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => {
  b[0] = b[0]! & 0xfe;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':') as Mac;
});
const u32 = fc.nat({ max: 0xffffffff });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const netns: fc.Arbitrary<Netns> = fc.nat({ max: 1 << 20 }).map((fd) => ({ path: '/var/run/netns/x', fd }));

/** Drops keys whose value is undefined, as the plans build ops. */
const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const linkOp: fc.Arbitrary<LinkOp> = fc.oneof(
  fc.record({ op: fc.constant('bridge-add' as const), name: ifName, mac, mtu: opt(fc.integer({ min: 1, max: 65535 })) }).map(clean),
  fc.record({ op: fc.constant('veth-add' as const), name: ifName, mac, peer: ifName, peerMac: mac, peerNetns: netns, mtu: opt(fc.integer({ min: 1, max: 65535 })) }).map(clean),
  fc.record({ op: fc.constant('link-set' as const), dev: ifName, master: opt(ifName), mac: opt(mac), up: opt(fc.boolean()), promisc: opt(fc.boolean()) }).map(clean),
  fc.record({ op: fc.constant('bridge-port' as const), dev: ifName, hairpin: opt(fc.boolean()), isolated: opt(fc.boolean()) }).map(clean),
  fc.record({ op: fc.constant('link-del' as const), dev: ifName }),
  fc.record({ op: fc.constantFrom('addr-add' as const, 'addr-replace' as const, 'addr-del' as const), dev: ifName, addr: cidr, nodad: opt(fc.boolean()) }).map(clean),
  fc.record({ op: fc.constantFrom('route-add' as const, 'route-replace' as const, 'route-prepend' as const), dst: cidr, via: opt(addr), dev: opt(ifName), nhid: opt(u32), proto: opt(fc.nat(255)), metric: opt(u32), table: opt(u32), scope: opt(fc.nat(255)) }).map(clean),
  fc.record({ op: fc.constant('route-del' as const), dst: cidr, proto: opt(fc.nat(255)), table: opt(u32), metric: opt(u32) }).map(clean),
  fc.record({ op: fc.constant('nexthop-replace' as const), id: u32, via: addr, dev: ifName, proto: fc.nat(255) }),
  fc.record({ op: fc.constant('nexthop-del' as const), id: u32 }),
);

/** What each op means as `ip` argv, written from the op's meaning, not from the printer. */
function expectedArgv(o: LinkOp, pid: number): string[] {
  const mtu = (m?: number) => (m ? ['mtu', String(m)] : []);
  switch (o.op) {
    case 'bridge-add':
      return ['link', 'add', 'name', o.name, ...mtu(o.mtu), 'address', o.mac, 'type', 'bridge'];
    case 'veth-add':
      return ['link', 'add', 'name', o.name, ...mtu(o.mtu), 'address', o.mac, 'type', 'veth', 'peer', 'name', o.peer, ...mtu(o.mtu), 'address', o.peerMac, 'netns', `/proc/${pid}/fd/${o.peerNetns.fd}`];
    case 'link-set':
      return ['link', 'set', 'dev', o.dev, ...(o.master ? ['master', o.master] : []), ...(o.mac ? ['address', o.mac] : []), ...(o.promisc === undefined ? [] : ['promisc', o.promisc ? 'on' : 'off']), ...(o.up === undefined ? [] : [o.up ? 'up' : 'down'])];
    case 'bridge-port':
      return ['link', 'set', 'dev', o.dev, 'type', 'bridge_slave', ...(o.hairpin === undefined ? [] : ['hairpin', o.hairpin ? 'on' : 'off']), ...(o.isolated === undefined ? [] : ['isolated', o.isolated ? 'on' : 'off'])];
    case 'link-del':
      return ['link', 'del', 'dev', o.dev];
    case 'addr-add':
    case 'addr-replace':
    case 'addr-del':
      return ['addr', o.op.split('-')[1]!, formatCidr(o.addr), ...(o.op !== 'addr-del' && o.addr.family === 4 ? ['brd', '+'] : []), 'dev', o.dev, ...(o.nodad ? ['nodad'] : [])];
    case 'route-add':
    case 'route-replace':
    case 'route-prepend': {
      const kv = (k: string, v: number | undefined) => (v === undefined ? [] : [k, String(v)]);
      return ['route', o.op.split('-')[1]!, formatCidr(o.dst), ...kv('nhid', o.nhid), ...(o.via ? ['via', formatIp(o.via)] : []), ...(o.dev ? ['dev', o.dev] : []), ...kv('proto', o.proto), ...kv('metric', o.metric), ...kv('table', o.table), ...kv('scope', o.scope)];
    }
    case 'route-del': {
      const kv = (k: string, v: number | undefined) => (v === undefined ? [] : [k, String(v)]);
      return ['route', 'del', formatCidr(o.dst), ...kv('proto', o.proto), ...kv('metric', o.metric), ...kv('table', o.table)];
    }
    case 'nexthop-replace':
      return ['nexthop', 'replace', 'id', String(o.id), 'via', formatIp(o.via), 'dev', o.dev, 'proto', String(o.proto)];
    case 'nexthop-del':
      return ['nexthop', 'del', 'id', String(o.id)];
  }
}

describe('ipLine printed, ipBatchWords read back: exactly the argv the op means', () => {
  it('for arbitrary valid ops', () => {
    fc.assert(
      fc.property(linkOp, fc.nat({ max: 4194304 }), (o, pid) => {
        const line = ipLine(o, pid);
        expect(line).not.toMatch(/[\n\r#\0]/);
        expect(ipBatchWords(line)).toEqual(expectedArgv(o, pid));
      }),
      { numRuns: 5000 },
    );
  });

  it('the name generator reaches the awkward corners', () => {
    const names = fc.sample(ifName, { numRuns: 3000, seed: 7 });
    const has = (p: (n: string) => boolean) => names.some(p);
    expect(has((n) => n.includes('"'))).toBe(true);
    expect(has((n) => n.includes("'"))).toBe(true);
    expect(has((n) => n.includes('\\'))).toBe(true);
    expect(has((n) => [...n].some((c) => c.codePointAt(0)! > 0x7f))).toBe(true);
    expect(has((n) => utf8Length(n) === 15)).toBe(true);
    for (const k of ['down', 'dev', 'type', 'help']) expect(has((n) => n === k)).toBe(true);
  });

  it('names parseIfName refuses never reach the printer unnoticed: each is refused for a reason ip or the kernel has', () => {
    for (const bad of ['eth%d', 'a%', 'all', 'default', 'a#b', `a'"b`, 'a b', 'a\nb', 'à', 'a\u00a0', 'x:y', 'a/b', '.', '..', '', 'abcdefghijklmnop', 'ab日本語xyzwv', 'e\udfff']) {
      expect(ifNameProblem(bad), JSON.stringify(bad)).toBeDefined();
    }
  });

  it('agrees with what the model says iproute2 does with quotes and comments', () => {
    expect(ipBatchWords(`link set dev "a'b" up`)).toEqual(['link', 'set', 'dev', "a'b", 'up']);
    expect(ipBatchWords(`link set dev 'a"b' up`)).toEqual(['link', 'set', 'dev', 'a"b', 'up']);
    expect(ipBatchWords('link del dev "x" # comment "y"')).toEqual(['link', 'del', 'dev', 'x']);
    expect(() => ipBatchWords('link del dev "x')).toThrow(/Unterminated/);
  });
});

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('the model against the real ip -batch (root, throw-away namespaces)', () => {
  it('links named with a sample of valid names are made, addressed, routed and removed by name, and read back exactly', async () => {
    const tag = randomBytes(3).toString('hex');
    const ns = `fnb-${tag}-ipb`;
    const peerNs = `fnb-${tag}-peer`;
    await execa('ip', ['netns', 'add', ns]);
    await execa('ip', ['netns', 'add', peerNs]);
    const peerFd = openSync(`/var/run/netns/${peerNs}`, 'r');
    try {
      const sample = [...new Set([...KEYWORDS.filter(isName), ...fc.sample(ifName, { numRuns: 200, seed: 11 })])];
      const names = sample.filter((n) => n !== 'lo') as IfName[];
      const batch = async (ops: LinkOp[], where = ns) => {
        // -force: every refused line is reported, not only the first.
        const r = await execa('ip', ['netns', 'exec', where, 'ip', '-force', '-batch', '-'], { input: `${ops.map((o) => ipLine(o, process.pid)).join('\n')}\n`, reject: false });
        return r;
      };
      const linkNames = async (where: string) => (JSON.parse((await execa('ip', ['-n', where, '-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
      // One batch per 50 names: a failure names its line.
      const bad: string[] = [];
      for (let i = 0; i < names.length; i += 50) {
        const chunk = names.slice(i, i + 50);
        const r = await batch(chunk.map((name, j): LinkOp => ({ op: 'bridge-add', name, mac: `02:00:00:00:${(((i + j) >> 8) & 255).toString(16).padStart(2, '0')}:${((i + j) & 255).toString(16).padStart(2, '0')}` as Mac })));
        for (const m of r.stderr.matchAll(/(.*)\nCommand failed -:(\d+)/g)) bad.push(`${JSON.stringify(chunk[Number(m[2]) - 1])}: ${m[1]}`);
      }
      expect(bad).toEqual([]);
      expect(new Set(await linkNames(ns))).toEqual(new Set(['lo', ...names]));
      // Every op that takes a name, on every name: up, an address, a route, hairpin-free port settings.
      const ops = names.flatMap((name, i): LinkOp[] => [
        { op: 'link-set', dev: name, up: true, promisc: true },
        { op: 'addr-add', dev: name, addr: parseCidr(`10.${(i >> 8) & 255}.${i & 255}.1/32`)!, nodad: false },
        { op: 'route-add', dst: parseCidr(`10.200.${i & 255}.${(i >> 8) & 255}/32`)!, dev: name, metric: 7 },
      ]);
      const r = await batch(ops);
      expect(r.stderr).toBe('');
      const links = JSON.parse((await execa('ip', ['-n', ns, '-j', 'addr', 'show'])).stdout) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>;
      names.forEach((name, i) => {
        const l = links.find((x) => x.ifname === name);
        expect(l?.addr_info.map((a) => a.local), JSON.stringify(name)).toContain(`10.${(i >> 8) & 255}.${i & 255}.1`);
      });
      const routes = JSON.parse((await execa('ip', ['-n', ns, '-j', 'route', 'show', 'metric', '7'])).stdout) as Array<{ dst: string; dev: string }>;
      expect(new Set(routes.map((x) => x.dev))).toEqual(new Set(names));
      // A veth whose peer is made in another namespace through /proc/<pid>/fd/<n>, both ends named from the sample.
      const pairs = names.slice(0, 40);
      const vr = await batch(pairs.map((name, i): LinkOp => ({ op: 'veth-add', name: `v${i}x` as IfName, mac: '02:00:00:01:00:01' as Mac, peer: name, peerMac: '02:00:00:01:00:02' as Mac, peerNetns: { path: '', fd: peerFd } })));
      expect(vr.stderr).toBe('');
      expect(new Set(await linkNames(peerNs))).toEqual(new Set(['lo', ...pairs]));
      // And removed by name, every one of them.
      const dr = await batch([...pairs.map((_, i) => `v${i}x` as IfName), ...names].map((dev): LinkOp => ({ op: 'link-del', dev })));
      expect(dr.stderr).toBe('');
      expect(await linkNames(ns)).toEqual(['lo']);
      expect(await linkNames(peerNs)).toEqual(['lo']);
    } finally {
      closeSync(peerFd);
      await execa('ip', ['netns', 'del', ns], { reject: false });
      await execa('ip', ['netns', 'del', peerNs], { reject: false });
    }
  }, 120_000);

  it('netnsFdPath is what ip is told', () => {
    expect(netnsFdPath({ path: '', fd: 3 }, 42)).toBe('/proc/42/fd/3');
  });
});
