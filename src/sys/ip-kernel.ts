// Kernel on iproute2: queries through `ip -j` (argv, never a shell), changes
// through one `ip -batch` per call, printed by ip-batch.ts from typed ops.
// This module and ip-batch.ts are the only ones that know `ip`'s words.
import { readFileSync, writeFileSync } from 'node:fs';
import { type Addr, type Cidr, contains, type Family, bitsOf, parseCidr, parseIp } from '../net/cidr.ts';
import type { IfName } from '../net/names.ts';
import { platform } from '../platform/index.ts';
import { ExecError, run, type RunResult, startPiped } from './exec.ts';
import { ipLine } from './ip-batch.ts';
import { type BatchOutcome, type Kernel, KernelError, type KernelFailure, type LinkOp, type LinkState, type MasqBackendChoice, type Netns, type NexthopState, type PreparedBatch, type RouteState, type Sysctl } from './kernel.ts';
import { nftMacSpoofCheck } from './macspoof-nftables.ts';
import { podMasq } from './masq.ts';
import { closeNetns, inNetns, openNetns } from './netns.ts';

interface IpJsonLink {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu?: number;
  operstate?: string;
  master?: string;
  flags?: string[];
  link_index?: number;
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: Array<{ local?: string; prefixlen?: number; scope?: string; tentative?: boolean; dadfailed?: boolean }>;
}

interface IpJsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  nhid?: number;
  metric?: number;
  table?: string;
}

function toLink(l: IpJsonLink): LinkState {
  const flags = l.flags ?? [];
  const addrs = (l.addr_info ?? []).flatMap((a) => {
    const cidr = a.local !== undefined ? parseCidr(`${a.local}/${a.prefixlen}`) : undefined;
    if (!cidr) return [];
    const dad = a.dadfailed ? ({ dad: 'failed' } as const) : a.tentative ? ({ dad: 'tentative' } as const) : {};
    return [{ cidr, scope: a.scope ?? 'global', ...dad }];
  });
  const s: LinkState = { name: l.ifname, ifindex: l.ifindex, up: flags.includes('UP'), promisc: flags.includes('PROMISC'), addrs };
  if (l.linkinfo?.info_kind) s.kind = l.linkinfo.info_kind;
  if (l.address) s.mac = l.address;
  if (l.mtu) s.mtu = l.mtu;
  if (l.operstate) s.operstate = l.operstate;
  if (l.master) s.master = l.master;
  if (l.link_index !== undefined) s.peerIfindex = l.link_index;
  if (l.linkinfo?.info_slave_data?.hairpin !== undefined) s.hairpin = l.linkinfo.info_slave_data.hairpin;
  return s;
}

function toRoute(r: IpJsonRoute, family: Family): RouteState | undefined {
  const dst = r.dst === 'default' ? parseCidr(family === 4 ? '0.0.0.0/0' : '::/0') : parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${bitsOf(family)}`);
  if (!dst) return undefined; // multicast, unreachable and other typed routes: not ours to read
  const s: RouteState = { dst };
  const via = r.gateway ? parseIp(r.gateway) : undefined;
  if (via) s.via = via;
  if (r.dev) s.dev = r.dev;
  if (r.protocol) s.proto = r.protocol;
  if (r.nhid !== undefined) s.nhid = r.nhid;
  if (r.metric !== undefined) s.metric = r.metric;
  if (r.table !== undefined) s.table = r.table === 'main' ? 254 : r.table === 'local' ? 255 : Number(r.table);
  return s;
}

const LINK_LOCAL6 = parseCidr('fe80::/10')!;
const LOOPBACK4 = parseCidr('127.0.0.0/8')!;
const LOOPBACK6 = parseCidr('::1/128')!;

/** The scope `ip` would show for an address the kernel gave no scope to us for. */
export function scopeOf(a: Cidr): string {
  if (contains(LINK_LOCAL6, a)) return 'link';
  if (contains(LOOPBACK4, a) || contains(LOOPBACK6, a)) return 'host';
  return 'global';
}

/** How a failure reads, from the kernel's own message (LC_ALL=C). */
export function classify(message: string): KernelFailure {
  if (/File exists/.test(message)) return 'exists';
  if (/Cannot find device|No such device|does not exist|No such process|Nexthop id does not exist/.test(message)) return 'not-found';
  if (/Network is unreachable|invalid gateway|Nexthop device is not up|No route to host/.test(message)) return 'unreachable';
  return 'other';
}

/** Failing lines of an `ip -batch` run: each message ends with "Command failed -:N". */
export function batchFailures(stderr: string): Array<{ line: number; message: string }> {
  const out: Array<{ line: number; message: string }> = [];
  let pending: string[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(l);
    if (m) {
      out.push({ line: Number(m[1]), message: pending.join(' ').trim() });
      pending = [];
    } else if (l.trim()) pending.push(l.trim());
  }
  return out;
}

/** What an `ip -batch` run did to `ops`: nothing failed, its failures (keepGoing), or the first failure. */
function batchOutcome(r: RunResult, ops: LinkOp[], lines: string[], keepGoing: boolean): BatchOutcome | KernelError {
  if (r.exitCode === 0) return { failed: [] };
  const failures = batchFailures(r.stderr).flatMap(({ line, message }) => {
    const op = ops[line - 1];
    return op ? [{ op, error: new KernelError(classify(message), op, message, `ip ${lines[line - 1]}`) }] : [];
  });
  if (failures.length === 0) return new KernelError(classify(r.stderr), undefined, r.stderr.trim() || `exit status ${r.exitCode}`, 'ip -batch');
  return keepGoing ? { failed: failures } : failures[0]!.error;
}

export class IpKernel implements Kernel {
  /**
   * `egress`: the agent's egress masquerade (src/sys/egress-masq.ts), passed
   * in so the CNI binaries, which never masquerade a node's egress, do not
   * carry its code.
   */
  private inNs<T>(ns: Netns | undefined, fn: () => T): T {
    return ns ? inNetns(ns, fn) : fn();
  }

  private ipJson<T>(argv: string[], ns: Netns | undefined): T {
    const r = this.inNs(ns, () => run(['ip', '-j', ...argv]));
    if (r.exitCode !== 0) throw new ExecError(['ip', '-j', ...argv], r);
    return JSON.parse(r.stdout || '[]') as T;
  }

  openNetns = openNetns;
  closeNetns = closeNetns;

  link(name: IfName, ns?: Netns): LinkState | undefined {
    const argv = ['-j', '-d', 'addr', 'show', 'dev', name];
    const r = this.inNs(ns, () => run(['ip', ...argv]));
    if (r.exitCode !== 0) {
      if (classify(r.stderr) === 'not-found') return undefined;
      throw new ExecError(['ip', ...argv], r);
    }
    const l = (JSON.parse(r.stdout || '[]') as IpJsonLink[])[0];
    return l ? toLink(l) : undefined;
  }

  links(ns?: Netns): LinkState[] {
    return this.ipJson<IpJsonLink[]>(['-d', 'addr', 'show'], ns).map(toLink);
  }

  routes(family: Family, ns?: Netns, filter: { proto?: number; table?: 'main' | 'all' } = {}): RouteState[] {
    // -N: protocols as numbers, so a number named in /etc/iproute2/rt_protos
    // (186 is "bgp") still reads as the agent's own.
    const argv = ['-N', family === 4 ? '-4' : '-6', 'route', 'show'];
    if (filter.table === 'all') argv.push('table', 'all');
    if (filter.proto !== undefined) argv.push('proto', String(filter.proto));
    return this.ipJson<IpJsonRoute[]>(argv, ns).flatMap((r) => toRoute(r, family) ?? []);
  }

  nexthops(): NexthopState[] | undefined {
    const r = run(['ip', '-j', '-N', 'nexthop', 'show']);
    if (r.exitCode !== 0) return undefined;
    return (JSON.parse(r.stdout || '[]') as Array<{ id: number; gateway?: string; dev?: string; protocol?: string }>).map((n) => {
      const s: NexthopState = { id: n.id };
      const via: Addr | undefined = n.gateway ? parseIp(n.gateway) : undefined;
      if (via) s.via = via;
      if (n.dev) s.dev = n.dev;
      if (n.protocol) s.proto = n.protocol;
      return s;
    });
  }

  apply(ops: LinkOp[], ns?: Netns, opts: { keepGoing?: boolean } = {}): BatchOutcome {
    if (ops.length === 0) return { failed: [] };
    const b = this.prepare(ns, opts);
    b.send(ops);
    return b.result();
  }

  prepare(ns?: Netns, opts: { keepGoing?: boolean } = {}): PreparedBatch {
    const argv = ['ip', ...(opts.keepGoing ? ['-force'] : []), '-batch', '-'];
    // Started in `ns`: the process stays there, whatever this thread does next.
    const child = this.inNs(ns, () => startPiped(argv));
    const sent: { ops: LinkOp[]; lines: string[] } = { ops: [], lines: [] };
    let outcome: BatchOutcome | KernelError | undefined;
    return {
      send(ops) {
        if (outcome) throw new Error('a prepared batch takes no ops after its result');
        const pid = platform.pid();
        const lines = ops.map((o) => ipLine(o, pid));
        sent.ops.push(...ops);
        sent.lines.push(...lines);
        if (lines.length) child.write(`${lines.join('\n')}\n`);
      },
      result() {
        // Line numbers count across sends: `ip` reads one stream.
        outcome ??= batchOutcome(child.finish(), sent.ops, sent.lines, opts.keepGoing ?? false);
        if (outcome instanceof KernelError) throw outcome;
        return outcome;
      },
    };
  }

  setSysctls(entries: Sysctl[], ns?: Netns): string[] {
    return this.inNs(ns, () => {
      const missing: string[] = [];
      for (const { key, value } of entries) {
        const path = `/proc/sys/${key}`;
        try {
          if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // A container's /proc/sys is read-only: say where it can be set instead.
          if (code === 'EROFS' || code === 'EACCES') throw new KernelError('other', undefined, `${key.replace(/\//g, '.')} is not ${value} and /proc/sys is read-only here (a container?): set it on the node (sysctl -w ${key.replace(/\//g, '.')}=${value}) or run this privileged`, `sysctl ${key}=${value}`);
          if (code !== 'ENOENT') throw new KernelError('other', undefined, (e as Error).message, `sysctl ${key}=${value}`);
          missing.push(key);
        }
      }
      return missing;
    });
  }

  linkSummary(name: IfName, ns?: Netns): LinkState | undefined {
    const s = this.inNs(ns, () => platform.linkSummary(name));
    if (s === null) return this.link(name, ns);
    if (s === undefined) return undefined;
    const addrs = s.addrs.flatMap((a) => {
      const cidr = parseCidr(`${a.address}/${a.prefixlen}`);
      return cidr ? [{ cidr, scope: scopeOf(cidr) }] : [];
    });
    return { name, ifindex: s.ifindex, up: s.up, operstate: s.running ? 'UP' : 'DOWN', promisc: s.promisc, addrs, ...(s.driver ? { kind: s.driver } : {}), ...(s.mac ? { mac: s.mac } : {}), ...(s.macSet !== undefined ? { macSet: s.macSet } : {}) };
  }

  podMasq(backend: MasqBackendChoice) {
    return podMasq(backend);
  }

  macSpoofCheck() {
    return nftMacSpoofCheck;
  }
}

export type { Cidr };
