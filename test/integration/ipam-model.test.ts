// flatnet-ipam against an in-memory reference model, on random sequences of
// ADD, repeated ADD (racing too), ADD with a requested IP, DEL, CHECK, GC and
// kill -9 of an ADD in flight, some run as concurrent processes. After every
// step the store on disk must be exactly what the model holds:
//   - no address held by two live attachments (one file per address, and the
//     model's addresses are distinct);
//   - no lease left after its DEL or GC;
//   - a repeated ADD is refused and never frees the live lease;
//   - every file is Go host-local's format byte for byte ("<id>\r\n<ifname>", 0644,
//     last_reserved_ip.N holding an address, lock), and a killed ADD leaves no
//     torn record (only a temp file, swept by the next call).
// The same sequences (without GC, which Go 1.1.1 lacks, and without kills)
// run against Go host-local as a second oracle: step for step the same
// outcome, the same addresses, the same bytes on disk. Then Go and flatnet
// alternate, concurrently too, on one dataDir.
// FLATNET_MODEL_SEED=<n> replays a run; FLATNET_MODEL_RUNS sets how many.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { flatnetIpam, GO_DIR, jsonOf } from '../helpers/plugin.ts';

const hostLocal = join(GO_DIR, 'host-local');
const NET = 'modelnet';
const KEYS = ['c0/eth0', 'c0/eth1', 'c1/eth0', 'c2/eth0', 'c3/eth0', 'c3/net1'] as const;
// v4: .2-.6 (5 addresses, .1 the gateway); v6: ::2-::5 (4): the v6 set runs out first,
// so an ADD that got its v4 address and then fails must give it back.
const V4 = ['10.60.0.2', '10.60.0.3', '10.60.0.4', '10.60.0.5', '10.60.0.6'];
const V6_SIZE = 4;
const RUNS = Number(process.env.FLATNET_MODEL_RUNS ?? 40);
const SEED = process.env.FLATNET_MODEL_SEED ? Number(process.env.FLATNET_MODEL_SEED) : Date.now() ^ (Math.random() * 2 ** 31);

type Key = (typeof KEYS)[number];
type Impl = 'fn' | 'go';
type Cmd =
  | { t: 'add'; k: number; ip?: string; impl?: Impl }
  | { t: 'del'; k: number; impl?: Impl }
  | { t: 'check'; k: number; impl?: Impl }
  | { t: 'gc'; keep: number[] }
  | { t: 'kill'; k: number; delayMs: number }
  | { t: 'race'; k: number; impls: [Impl, Impl] }
  | { t: 'par'; cmds: Array<{ t: 'add' | 'del'; k: number; impl?: Impl }> };

const conf = (dataDir: string, impl: Impl, version = '1.0.0', extra: object = {}) => ({
  cniVersion: version,
  name: NET,
  type: 'bridge',
  ipam: {
    type: impl === 'fn' ? 'flatnet-ipam' : 'host-local',
    dataDir,
    ranges: [[{ subnet: '10.60.0.0/29' }], [{ subnet: 'fd60::/125', rangeStart: 'fd60::2', rangeEnd: 'fd60::5' }]],
  },
  ...extra,
});

interface Out {
  code: number; // 0 for success
  ips: string[];
  text: string;
}

function envOf(key: string, command: string, args = ''): Record<string, string> {
  const [id, ifname] = key.split('/') as [string, string];
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: ifname, CNI_NETNS: '/nonexistent', CNI_PATH: GO_DIR, CNI_ARGS: args };
}

async function callIpam(impl: Impl, dataDir: string, key: string, command: string, opts: { ip?: string; version?: string; extra?: object } = {}): Promise<Out> {
  const r = await execa(impl === 'fn' ? flatnetIpam : hostLocal, [], {
    env: envOf(key, command, opts.ip ? `IP=${opts.ip}` : ''),
    extendEnv: false,
    input: JSON.stringify(conf(dataDir, impl, opts.version, opts.extra)),
    reject: false,
  });
  const json = jsonOf(r.stdout);
  if (r.exitCode === 0) return { code: 0, ips: (json?.ips ?? []).map((i: any) => String(i.address).split('/')[0]), text: r.stdout };
  return { code: typeof json?.code === 'number' ? json.code : -1, ips: [], text: r.stdout || r.stderr };
}

/** Starts flatnet-ipam ADD and kills it with SIGKILL after `delayMs`; resolves when it is gone. */
function addThenKill(dataDir: string, key: string, delayMs: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(flatnetIpam, [], { env: envOf(key, 'ADD'), stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(JSON.stringify(conf(dataDir, 'fn')));
    const t = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (_code, signal) => {
      clearTimeout(t);
      resolve(signal === 'SIGKILL' ? 'killed' : 'finished');
    });
  });
}

// --- the store as it is on disk ---

interface Disk {
  /** address -> record bytes */
  leases: Map<string, string>;
  temps: string[];
  problems: string[];
}

const isAddr = (f: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(f) || /^[0-9a-f:]+$/.test(f);

// Both write leases 0644 (Debian's Go host-local 1.1.1's mode), less the umask.
const GO_MODE = 0o644 & ~process.umask();
const LEASE_MODES = { fn: [GO_MODE], go: [GO_MODE], mixed: [GO_MODE] };

function readDisk(dataDir: string, allowTemps: boolean, modes: number[]): Disk {
  const dir = join(dataDir, NET);
  const d: Disk = { leases: new Map(), temps: [], problems: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return d;
  }
  for (const f of names) {
    const p = join(dir, f);
    if (f === 'lock') continue;
    if (/^last_reserved_ip\.[01]$/.test(f)) {
      const v = readFileSync(p, 'latin1');
      const want = f.endsWith('0') ? V4.includes(v) : /^fd60::[2-5]$/.test(v);
      if (!want) d.problems.push(`${f} holds ${JSON.stringify(v)}`);
    } else if (isAddr(f)) {
      const content = readFileSync(p, 'latin1');
      d.leases.set(f, content);
      if (!/^c\d\r\n(eth0|eth1|net1)$/.test(content)) d.problems.push(`lease ${f} holds ${JSON.stringify(content)} (torn or foreign record)`);
      if (!modes.includes(statSync(p).mode & 0o777)) d.problems.push(`lease ${f} has mode ${(statSync(p).mode & 0o777).toString(8)}`);
    } else if (f.startsWith('.flatnet-tmp.')) {
      d.temps.push(f);
      if (!allowTemps) d.problems.push(`temp file ${f} left behind`);
    } else d.problems.push(`unexpected file ${f}`);
  }
  return d;
}

// --- the reference model ---

class Model {
  /** key -> its addresses (v4 first), for live attachments. */
  readonly held = new Map<string, string[]>();
  private owner(ip: string): string | undefined {
    for (const [k, ips] of this.held) if (ips.includes(ip)) return k;
    return undefined;
  }
  free(): { v4: number; v6: number } {
    const all = [...this.held.values()].flat();
    return { v4: V4.length - all.filter((a) => !a.includes(':')).length, v6: V6_SIZE - all.filter((a) => a.includes(':')).length };
  }
  /** What an ADD must do now: refuse with a code, or succeed. */
  expectAdd(key: string, ip?: string): { code: number } | 'ok' {
    if (this.held.has(key)) return { code: 102 };
    if (ip !== undefined && this.owner(ip)) return { code: 101 };
    const f = this.free();
    if (f.v4 === 0 || f.v6 === 0) return { code: 100 };
    return 'ok';
  }
  /** Takes an ADD's addresses; returns what is wrong with them. */
  adopt(key: string, ips: string[], requested?: string): string[] {
    const bad: string[] = [];
    if (ips.length !== 2 || ips[0]!.includes(':') || !ips[1]!.includes(':')) bad.push(`${key} got ${JSON.stringify(ips)}, want one v4 and one v6 address`);
    for (const ip of ips) {
      const o = this.owner(ip);
      if (o) bad.push(`${key} got ${ip}, which ${o} holds`);
      if (!ip.includes(':') && !V4.includes(ip)) bad.push(`${key} got ${ip}, outside the v4 range`);
      if (ip.includes(':') && !/^fd60::[2-5]$/.test(ip)) bad.push(`${key} got ${ip}, outside the v6 range`);
    }
    if (requested && ips[0] !== requested) bad.push(`${key} asked for ${requested}, got ${ips[0]}`);
    this.held.set(key, ips);
    return bad;
  }
  release(key: string): void {
    this.held.delete(key);
  }
  /** The store the model implies: address -> record bytes. */
  disk(): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, ips] of this.held) for (const ip of ips) m.set(ip, k.replace('/', '\r\n'));
    return m;
  }
}

const sameMap = (a: Map<string, string>, b: Map<string, string>): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
const fmt = (m: Map<string, string>): string => JSON.stringify([...m].sort().map(([k, v]) => `${k}=${v.replace('\r\n', '/')}`));

// --- running a sequence ---

/** Over every run: how many ADDs died in flight, and how many finished before the kill. */
const killOutcomes = { killed: 0, finished: 0 };

interface RunOpts {
  /** Which implementation serves a command that names none. */
  impl: (c: { impl?: Impl }) => Impl;
  gc: boolean;
  /** The lease file modes the writers of this run use. */
  modes: number[];
}

/** Runs `cmds` on one dataDir; returns every step's outcome (for comparisons) and what broke an invariant. */
async function runSequence(cmds: Cmd[], dataDir: string, o: RunOpts): Promise<{ trace: string[]; problems: string[] }> {
  const model = new Model();
  const trace: string[] = [];
  const problems: string[] = [];
  const expectAddOutcome = (key: string, out: Out, impl: Impl, ip?: string): void => {
    const want = model.expectAdd(key, ip);
    if (want === 'ok') {
      if (out.code !== 0) problems.push(`ADD ${key}${ip ? ` IP=${ip}` : ''} (${impl}): want success, got ${out.text}`);
      else problems.push(...model.adopt(key, out.ips, ip));
    } else if (out.code === 0) {
      problems.push(`ADD ${key}${ip ? ` IP=${ip}` : ''} (${impl}): want refusal ${want.code}, got ${out.ips}`);
      model.adopt(key, out.ips);
    } else if (impl === 'fn' && out.code !== want.code) problems.push(`ADD ${key} (fn): want code ${want.code}, got ${out.text}`);
  };
  // A killed ADD may leave a temp file (a round-robin hint; a lease record only where O_TMPFILE
  // is missing: it is written unnamed); the next flatnet call that takes the lock (every verb but
  // CHECK) sweeps it. Go host-local leaves it. (Go's CHECK reads every file by content, names
  // aside: a record under a temp name would pass its CHECK, which this test caught.)
  let allowTemps = false;
  const fnLocks = (c: Cmd): boolean =>
    c.t === 'gc' || ((c.t === 'add' || c.t === 'del') && o.impl(c) === 'fn') || (c.t === 'race' && c.impls.includes('fn')) || (c.t === 'par' && c.cmds.some((x) => o.impl(x) === 'fn'));
  for (const [step, c] of cmds.entries()) {
    const at = `step ${step} ${JSON.stringify(c)}`;
    const before = problems.length;
    if (fnLocks(c)) allowTemps = false;
    if (c.t === 'add') {
      const key = KEYS[c.k]!;
      const impl = o.impl(c);
      // Go host-local gives a held key a second lease for a requested IP (flatnet refuses, 102): not compared.
      const held = model.held.has(key);
      const ip = impl === 'go' && held ? undefined : c.ip;
      const out = await callIpam(impl, dataDir, key, 'ADD', { ip });
      trace.push(`ADD ${key} ${held ? '(held)' : (ip ?? '')} -> ${out.code === 0 ? out.ips.join(',') : 'refused'}`);
      expectAddOutcome(key, out, impl, ip);
    } else if (c.t === 'del') {
      const key = KEYS[c.k]!;
      const out = await callIpam(o.impl(c), dataDir, key, 'DEL');
      trace.push(`DEL ${key} -> ${out.code}`);
      if (out.code !== 0) problems.push(`DEL ${key}: ${out.text}`);
      model.release(key);
    } else if (c.t === 'check') {
      const key = KEYS[c.k]!;
      const out = await callIpam(o.impl(c), dataDir, key, 'CHECK');
      trace.push(`CHECK ${key} -> ${out.code === 0 ? 'ok' : 'refused'}`);
      if ((out.code === 0) !== model.held.has(key)) problems.push(`CHECK ${key}: model holds it: ${model.held.has(key)}, plugin says ${out.text || 'ok'}`);
    } else if (c.t === 'gc') {
      const keep = [...new Set(c.keep)].map((i) => KEYS[i]!);
      const valid = keep.map((k) => ({ containerID: k.split('/')[0], ifname: k.split('/')[1] }));
      const out = await callIpam('fn', dataDir, 'gc/none', 'GC', { version: '1.1.0', extra: { 'cni.dev/valid-attachments': valid } });
      trace.push(`GC keep ${keep} -> ${out.code}`);
      if (out.code !== 0) problems.push(`GC: ${out.text}`);
      for (const k of [...model.held.keys()]) if (!keep.includes(k as Key)) model.release(k);
    } else if (c.t === 'kill') {
      const key = KEYS[c.k]!;
      const wasHeld = model.held.get(key);
      const r = await addThenKill(dataDir, key, c.delayMs);
      killOutcomes[r === 'killed' ? 'killed' : 'finished']++;
      trace.push(`KILL ADD ${key} after ${c.delayMs} ms: ${r}`);
      // Whatever the killed ADD got is the key's now (the runtime's DEL will release it); a live lease stays as it was.
      const disk = readDisk(dataDir, true, o.modes);
      const got = [...disk.leases].filter(([, v]) => v === key.replace('/', '\r\n')).map(([ip]) => ip).sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
      if (wasHeld) {
        if (JSON.stringify(got) !== JSON.stringify(wasHeld)) problems.push(`killed repeated ADD of ${key} changed its lease ${wasHeld} to ${got}`);
      } else if (got.length) {
        for (const ip of got) for (const [k, ips] of model.held) if (ips.includes(ip)) problems.push(`killed ADD of ${key} holds ${ip} of ${k}`);
        model.held.set(key, got);
      }
      allowTemps = true;
    } else if (c.t === 'race') {
      const key = KEYS[c.k]!;
      const want = model.expectAdd(key);
      const outs = await Promise.all(c.impls.map((impl) => callIpam(impl, dataDir, key, 'ADD')));
      trace.push(`RACE ADD ${key} -> ${outs.map((x) => x.code).join(',')}`);
      const wins = outs.filter((x) => x.code === 0);
      if (want === 'ok') {
        if (wins.length !== 1) problems.push(`racing ADDs of ${key}: ${wins.length} succeeded: ${outs.map((x) => x.text).join(' | ')}`);
        if (wins[0]) problems.push(...model.adopt(key, wins[0].ips));
      } else if (wins.length) {
        problems.push(`racing ADDs of ${key}: want both refused (${want.code}), ${wins.length} succeeded`);
      }
    } else {
      const free = model.free();
      const heldBefore = new Set(model.held.keys());
      const outs = await Promise.all(c.cmds.map((x) => callIpam(o.impl(x), dataDir, KEYS[x.k]!, x.t === 'add' ? 'ADD' : 'DEL')));
      trace.push(`PAR ${c.cmds.map((x, i) => `${x.t} ${KEYS[x.k]} -> ${outs[i]!.code}`).join('; ')}`);
      // DELs first in the model: a concurrent ADD may or may not see their addresses free.
      c.cmds.forEach((x, i) => {
        if (x.t === 'del') {
          if (outs[i]!.code !== 0) problems.push(`DEL ${KEYS[x.k]}: ${outs[i]!.text}`);
          model.release(KEYS[x.k]!);
        }
      });
      const adds = c.cmds.map((x, i) => ({ x, out: outs[i]! })).filter(({ x }) => x.t === 'add');
      let refusedForSpace = 0;
      for (const { x, out } of adds) {
        const key = KEYS[x.k]!;
        if (out.code === 0 && heldBefore.has(key)) problems.push(`concurrent ADD of ${key}, which held ${model.held.get(key)}, got ${out.ips}`);
        if (out.code === 0) problems.push(...model.adopt(key, out.ips));
        else if (heldBefore.has(key)) continue; // held before the group: refused, as it must be
        else if (o.impl(x) === 'go' || out.code === 100) refusedForSpace++;
        else problems.push(`concurrent ADD ${key}: ${out.text}`);
      }
      // Refusals for space only when the group's ADDs could not all fit in what was free before it.
      if (refusedForSpace && adds.length <= Math.min(free.v4, free.v6)) problems.push(`${refusedForSpace} concurrent ADDs refused with ${JSON.stringify(free)} free before the group`);
    }
    const disk = readDisk(dataDir, allowTemps, o.modes);
    problems.push(...disk.problems);
    if (!sameMap(disk.leases, model.disk())) problems.push(`store ${fmt(disk.leases)} but model ${fmt(model.disk())}`);
    if (problems.length > before) problems.splice(before, 0, `at ${at}:`);
    if (problems.length) break;
  }
  return { trace, problems };
}

// --- arbitraries ---

const key = fc.integer({ min: 0, max: KEYS.length - 1 });
const ip = fc.option(fc.constantFrom(...V4), { nil: undefined, freq: 4 });
function cmdArb(opts: { gc: boolean; kill: boolean; concurrent: boolean; impls: Impl[] }): fc.Arbitrary<Cmd> {
  const impl = fc.constantFrom(...opts.impls);
  const arbs: Array<fc.WeightedArbitrary<Cmd>> = [
    { weight: 6, arbitrary: fc.record({ t: fc.constant('add' as const), k: key, ip, impl }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), k: key, impl }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('check' as const), k: key, impl }) },
  ];
  if (opts.gc) arbs.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('gc' as const), keep: fc.array(key, { maxLength: 4 }) }) });
  if (opts.kill) arbs.push({ weight: 2, arbitrary: fc.record({ t: fc.constant('kill' as const), k: key, delayMs: fc.integer({ min: 0, max: 12 }) }) });
  if (opts.concurrent) {
    arbs.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('race' as const), k: key, impls: fc.tuple(impl, impl) }) });
    arbs.push({
      weight: 2,
      arbitrary: fc
        .uniqueArray(fc.record({ t: fc.constantFrom('add' as const, 'del' as const), k: key, impl }), { minLength: 2, maxLength: 5, selector: (x) => x.k })
        .map((cmds) => ({ t: 'par' as const, cmds })),
    });
  }
  return fc.oneof(...arbs);
}
const seq = (a: fc.Arbitrary<Cmd>) => fc.array(a, { minLength: 5, maxLength: 30 });

const tmp = (): { path: string; drop: () => void } => {
  const path = mkdtempSync(join(tmpdir(), 'fnt-model-'));
  return { path, drop: () => rmSync(path, { recursive: true, force: true }) };
};
const params = (runs: number) => ({ seed: SEED, numRuns: runs, endOnFailure: true });

describe.runIf(isRoot())(`flatnet-ipam against a reference model (seed ${SEED})`, () => {
  it('random ADD/DEL/CHECK/GC/kill -9 sequences, some concurrent: the store is always the model', async () => {
    await fc.assert(
      fc.asyncProperty(seq(cmdArb({ gc: true, kill: true, concurrent: true, impls: ['fn'] })), async (cmds) => {
        const d = tmp();
        try {
          const r = await runSequence(cmds, d.path, { impl: () => 'fn', gc: true, modes: LEASE_MODES.fn });
          expect(r.problems, r.trace.join('\n')).toEqual([]);
        } finally {
          d.drop();
        }
      }),
      params(RUNS),
    );
    expect(killOutcomes.killed, 'no kill -9 landed while an ADD was running').toBeGreaterThan(0);
  }, 600_000);

  it('Go host-local as a second oracle: the same outcomes, addresses and bytes on disk, step for step', async () => {
    await fc.assert(
      fc.asyncProperty(seq(cmdArb({ gc: false, kill: false, concurrent: false, impls: ['fn'] })), async (cmds) => {
        const [a, b] = [tmp(), tmp()];
        try {
          // Requested IPs only for keys the model says are free: there Go and flatnet agree.
          const ours = await runSequence(cmds, a.path, { impl: () => 'fn', gc: false, modes: LEASE_MODES.fn });
          const theirs = await runSequence(cmds, b.path, { impl: () => 'go', gc: false, modes: LEASE_MODES.go });
          expect(ours.problems, ours.trace.join('\n')).toEqual([]);
          expect(theirs.problems, theirs.trace.join('\n')).toEqual([]);
          expect(ours.trace).toEqual(theirs.trace);
          expect(storeBytes(a.path)).toEqual(storeBytes(b.path));
          // Trace aside, the on-disk bytes are the same, modes included.
        } finally {
          a.drop();
          b.drop();
        }
      }),
      params(Math.max(5, Math.floor(RUNS / 2))),
    );
  }, 600_000);

  it('Go and flatnet alternating on one dataDir, concurrently and with flatnet killed mid-ADD: the model holds, and the addresses are those of flatnet alone', async () => {
    await fc.assert(
      // kill -9 of flatnet only: a Go host-local killed mid-write can leave a torn record, which is Go's own behaviour.
      fc.asyncProperty(seq(cmdArb({ gc: false, kill: true, concurrent: true, impls: ['fn', 'go'] })), async (cmds) => {
        const [a, b] = [tmp(), tmp()];
        try {
          const mixed = await runSequence(cmds, a.path, { impl: (c) => c.impl ?? 'fn', gc: false, modes: LEASE_MODES.mixed });
          expect(mixed.problems, mixed.trace.join('\n')).toEqual([]);
          // Without concurrency the order is fixed, and so is every address: Go and flatnet allocate alike.
          if (cmds.every((c) => c.t !== 'par' && c.t !== 'race' && c.t !== 'kill')) {
            const alone = await runSequence(cmds, b.path, { impl: () => 'fn', gc: false, modes: LEASE_MODES.fn });
            expect(mixed.trace.map((l) => l.replace(/-> \d+$/, '-> x'))).toEqual(alone.trace.map((l) => l.replace(/-> \d+$/, '-> x')));
          }
        } finally {
          a.drop();
          b.drop();
        }
      }),
      params(Math.max(5, Math.floor(RUNS / 2))),
    );
  }, 600_000);
});

/** Every file of the network's store with its bytes (lock aside: Go and flatnet both leave it empty). */
function storeBytes(dataDir: string): Record<string, string> {
  const dir = join(dataDir, NET);
  return Object.fromEntries(readdirSync(dir).filter((f) => f !== 'lock').sort().map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
}
