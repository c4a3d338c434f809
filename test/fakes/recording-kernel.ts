// A Kernel that records what it is asked to do and keeps a small model of
// links, for unit tests of plans and rollback (as Go's fake stores). It is no
// substitute for the namespace tests: it knows nothing of the real kernel.
import { type Family, formatCidr, networkOf } from '../../src/net/cidr.ts';
import type { IfName } from '../../src/net/names.ts';
import { ipLine } from '../../src/sys/ip-batch.ts';
import { type AgentKernel, type BatchOutcome, type EgressMasq, KernelError, type KernelFailure, type LinkOp, type LinkState, type MacSpoofCheck, type MasqBackendChoice, type Netns, type NexthopState, type PodMasq, type PreparedBatch, type RouteState, type Sysctl } from '../../src/sys/kernel.ts';

/** One recorded call: where (host or a namespace path) and what, printed as `ip` would get it. */
export interface Call {
  where: string;
  what: string;
}

export type Failure = (call: Call) => KernelError | Error | undefined;

export class RecordingKernel implements AgentKernel {
  readonly calls: Call[] = [];
  /** Links per namespace ('host' or a namespace path). */
  readonly state = new Map<string, Map<string, LinkState>>();
  readonly missingNetns = new Set<string>();
  readonly routesByNs = new Map<string, RouteState[]>();
  nexthopList: NexthopState[] | undefined = [];
  /** The last egress masquerade each family was synced to: its pod CIDRs and what it exempts. */
  egress = new Map<Family, { pods: string[]; noMasq: string[] }>();
  fail: Failure = () => undefined;
  /** A veth's other end: deleting either deletes both, as in the kernel. */
  private readonly peers = new Map<string, { where: string; name: string }>();
  private nextFd = 100;
  private nextIndex = 10;

  private record(where: string, what: string): void {
    const call = { where, what };
    this.calls.push(call);
    const e = this.fail(call);
    if (e) throw e;
  }

  private ns(where: string): Map<string, LinkState> {
    let m = this.state.get(where);
    if (!m) this.state.set(where, (m = new Map()));
    return m;
  }

  addLink(where: string, l: Partial<LinkState> & { name: string }): void {
    this.ns(where).set(l.name, { ifindex: this.nextIndex++, up: false, promisc: false, addrs: [], ...l });
  }

  /** The recorded calls as "where: what" lines. */
  log(): string[] {
    return this.calls.map((c) => `${c.where}: ${c.what}`);
  }

  openNetns(path: string): Netns | undefined {
    this.record('host', `open netns ${path}`);
    return this.missingNetns.has(path) ? undefined : { path, fd: this.nextFd++ };
  }

  closeNetns(ns: Netns): void {
    this.calls.push({ where: 'host', what: `close netns ${ns.path}` });
  }

  link(name: IfName, ns?: Netns): LinkState | undefined {
    return this.ns(ns?.path ?? 'host').get(name);
  }

  links(ns?: Netns): LinkState[] {
    return [...this.ns(ns?.path ?? 'host').values()];
  }

  routes(family: Family, ns?: Netns, filter: { proto?: number } = {}): RouteState[] {
    return (this.routesByNs.get(ns?.path ?? 'host') ?? []).filter((r) => r.dst.family === family && (filter.proto === undefined || r.proto === String(filter.proto)));
  }

  nexthops(): NexthopState[] | undefined {
    return this.nexthopList;
  }

  /** Records at send(), as the ops reach the kernel; a failure surfaces at result(), as from `ip`. */
  prepare(ns?: Netns, opts: { keepGoing?: boolean } = {}): PreparedBatch {
    let outcome: BatchOutcome | Error = { failed: [] };
    return {
      send: (ops) => {
        if (outcome instanceof Error && !opts.keepGoing) return; // `ip -batch` stops at its first failure
        try {
          const r = this.apply(ops, ns, opts);
          if (!(outcome instanceof Error)) outcome = { failed: [...outcome.failed, ...r.failed] };
        } catch (e) {
          outcome = e as Error;
        }
      },
      result: () => {
        if (outcome instanceof Error) throw outcome;
        return outcome;
      },
    };
  }

  apply(ops: LinkOp[], ns?: Netns, opts: { keepGoing?: boolean } = {}): BatchOutcome {
    const where = ns?.path ?? 'host';
    const failed: BatchOutcome['failed'] = [];
    for (const op of ops) {
      try {
        this.record(where, ipLine(op, 1));
        this.model(where, op);
      } catch (e) {
        if (!opts.keepGoing) throw e;
        failed.push({ op, error: e as KernelError });
      }
    }
    return { failed };
  }

  private model(where: string, op: LinkOp): void {
    const here = this.ns(where);
    const exists = (n: string, m = here) => {
      if (m.has(n)) throw new KernelError('exists', op, 'RTNETLINK answers: File exists', ipLine(op, 1));
    };
    switch (op.op) {
      case 'bridge-add':
        exists(op.name);
        this.addLink(where, { name: op.name, kind: 'bridge', mac: op.mac });
        break;
      case 'veth-add': {
        const peerNs = this.ns(op.peerNetns.path);
        exists(op.name);
        exists(op.peer, peerNs);
        this.addLink(where, { name: op.name, kind: 'veth', mac: op.mac, operstate: 'UP' });
        this.addLink(op.peerNetns.path, { name: op.peer, kind: 'veth', mac: op.peerMac });
        this.peers.set(`${where} ${op.name}`, { where: op.peerNetns.path, name: op.peer });
        this.peers.set(`${op.peerNetns.path} ${op.peer}`, { where, name: op.name });
        break;
      }
      case 'link-del': {
        if (!here.delete(op.dev)) throw new KernelError('not-found', op, `Cannot find device "${op.dev}"`, ipLine(op, 1));
        const peer = this.peers.get(`${where} ${op.dev}`);
        if (peer) this.ns(peer.where).delete(peer.name);
        break;
      }
      case 'link-set': {
        const l = here.get(op.dev);
        if (!l) throw new KernelError('not-found', op, `Cannot find device "${op.dev}"`, ipLine(op, 1));
        if (op.up !== undefined) l.up = op.up;
        if (op.master) l.master = op.master;
        break;
      }
      case 'addr-add':
      case 'addr-replace':
      case 'addr-del': {
        // As the kernel keys them: the address with its prefix, on its link.
        const l = here.get(op.dev);
        if (!l) throw new KernelError('not-found', op, `Cannot find device "${op.dev}"`, ipLine(op, 1));
        const text = formatCidr(op.addr);
        const i = l.addrs.findIndex((a) => formatCidr(a.cidr) === text);
        if (op.op === 'addr-del') {
          if (i < 0) throw new KernelError('not-found', op, 'RTNETLINK answers: Cannot assign requested address', ipLine(op, 1));
          l.addrs.splice(i, 1);
        } else if (i < 0) {
          l.addrs.push({ cidr: op.addr, scope: 'global' });
        } else if (op.op === 'addr-add') {
          throw new KernelError('exists', op, 'RTNETLINK answers: File exists', ipLine(op, 1));
        }
        break;
      }
      case 'route-add':
      case 'route-replace':
      case 'route-prepend':
      case 'route-del':
        this.modelRoute(where, op);
        break;
      case 'nexthop-replace':
      case 'nexthop-del':
        this.modelNexthop(where, op);
        break;
      default:
        break;
    }
  }

  /** Routes as the kernel keys them (destination, metric, table): replace overwrites whatever is there, whoever made it. */
  private modelRoute(where: string, op: Extract<LinkOp, { op: 'route-add' | 'route-replace' | 'route-prepend' | 'route-del' }>): void {
    const list = this.routesByNs.get(where) ?? [];
    this.routesByNs.set(where, list);
    const err = (failure: KernelFailure, msg: string) => new KernelError(failure, op, msg, ipLine(op, 1));
    const dst = formatCidr(networkOf(op.dst));
    const sameKey = (r: RouteState) => formatCidr(r.dst) === dst && (op.metric === undefined || (r.metric ?? 0) === op.metric) && (r.table ?? 254) === (op.table ?? 254);
    if (op.op === 'route-del') {
      const i = list.findIndex((r) => sameKey(r) && (op.proto === undefined || r.proto === String(op.proto)));
      if (i < 0) throw err('not-found', 'RTNETLINK answers: No such process');
      list.splice(i, 1);
      return;
    }
    let { via, dev } = op;
    if (op.nhid !== undefined) {
      const nh = this.nexthopList?.find((n) => n.id === op.nhid);
      if (!nh) throw err('not-found', 'Error: Nexthop id does not exist.');
      via = nh.via;
      dev = nh.dev as IfName | undefined;
    }
    if (op.op === 'route-prepend') {
      // Beside what is there (another gateway or device); only an identical route is "exists".
      if (list.some((r) => sameKey(r) && r.dev === dev && (r.via === undefined ? via === undefined : via !== undefined && r.via.value === via.value))) throw err('exists', 'RTNETLINK answers: File exists');
      list.unshift({ dst: networkOf(op.dst), ...(via ? { via } : {}), ...(dev ? { dev } : {}), ...(op.metric !== undefined ? { metric: op.metric } : {}) });
      return;
    }
    const i = list.findIndex(sameKey);
    if (i >= 0 && op.op === 'route-add') throw err('exists', 'RTNETLINK answers: File exists');
    const r: RouteState = { dst: networkOf(op.dst), ...(via ? { via } : {}), ...(dev ? { dev } : {}), ...(op.proto !== undefined ? { proto: String(op.proto) } : {}), ...(op.nhid !== undefined ? { nhid: op.nhid } : {}), ...(op.metric !== undefined ? { metric: op.metric } : {}) };
    if (i >= 0) list[i] = r;
    else list.push(r);
  }

  /** Nexthop objects; deleting one deletes the routes that use it, as the kernel does. */
  private modelNexthop(where: string, op: Extract<LinkOp, { op: 'nexthop-replace' | 'nexthop-del' }>): void {
    if (!this.nexthopList) throw new KernelError('other', op, 'Error: nexthop objects not supported', ipLine(op, 1));
    const i = this.nexthopList.findIndex((n) => n.id === op.id);
    if (op.op === 'nexthop-replace') {
      const nh: NexthopState = { id: op.id, via: op.via, dev: op.dev, proto: String(op.proto) };
      if (i >= 0) this.nexthopList[i] = nh;
      else this.nexthopList.push(nh);
      return;
    }
    if (i < 0) throw new KernelError('not-found', op, 'Error: Nexthop id does not exist.', ipLine(op, 1));
    this.nexthopList.splice(i, 1);
    const list = this.routesByNs.get(where) ?? [];
    this.routesByNs.set(where, list.filter((r) => r.nhid !== op.id));
  }

  setSysctls(entries: Sysctl[], ns?: Netns): string[] {
    if (entries.length) this.record(ns?.path ?? 'host', `sysctl ${entries.map((s) => `${s.key}=${s.value}`).join(' ')}`);
    return [];
  }

  linkSummary(name: IfName, ns?: Netns): LinkState | undefined {
    const l = this.link(name, ns);
    return l ? { ...l, operstate: l.operstate ?? 'DOWN' } : undefined;
  }

  podMasq(backend: MasqBackendChoice): PodMasq {
    return {
      setup: async (a) => this.record('host', `masq setup ${backend} ${a.network} ${a.containerId} ${a.addresses.length}`),
      teardown: (a) => this.record('host', `masq teardown ${a.network} ${a.containerId}${a.addresses ? ` ${a.addresses.length}` : ''}`),
      gc: (network, valid) => this.record('host', `masq gc ${network} keep ${valid.map((v) => v.containerId).join(',')}`),
    };
  }

  macSpoofCheck(): MacSpoofCheck {
    return {
      setup: async (a) => this.record('host', `macspoofchk setup ${a.refId} ${a.hostVeth} ${a.mac}`),
      teardown: (refId) => this.record('host', `macspoofchk teardown ${refId}`),
      problem: () => undefined,
    };
  }

  egressMasq(backend: MasqBackendChoice): EgressMasq {
    return {
      sync: (family, pods, noMasq) => {
        this.record('host', `egress ${backend} v${family} ${pods.length} pods, ${noMasq.length} exempt`);
        this.egress.set(family, { pods: pods.map(formatCidr), noMasq: noMasq.map(formatCidr) });
        return true;
      },
      remove: () => this.record('host', 'egress remove'),
      describe: () => 'recorded',
    };
  }
}
