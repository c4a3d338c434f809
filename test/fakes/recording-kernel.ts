// A Kernel that records what it is asked to do and keeps a small model of
// links, for unit tests of plans and rollback (as Go's fake stores). It is no
// substitute for the namespace tests: it knows nothing of the real kernel.
import type { Family } from '../../src/net/cidr.ts';
import type { IfName } from '../../src/net/names.ts';
import { ipLine } from '../../src/sys/ip-batch.ts';
import { type BatchOutcome, type EgressMasq, type Kernel, KernelError, type LinkOp, type LinkState, type MasqBackendChoice, type Netns, type NexthopState, type PodMasq, type PreparedBatch, type RouteState, type Sysctl } from '../../src/sys/kernel.ts';

/** One recorded call: where (host or a namespace path) and what, printed as `ip` would get it. */
export interface Call {
  where: string;
  what: string;
}

export type Failure = (call: Call) => KernelError | Error | undefined;

export class RecordingKernel implements Kernel {
  readonly calls: Call[] = [];
  /** Links per namespace ('host' or a namespace path). */
  readonly state = new Map<string, Map<string, LinkState>>();
  readonly missingNetns = new Set<string>();
  readonly routesByNs = new Map<string, RouteState[]>();
  nexthopList: NexthopState[] | undefined = [];
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

  routes(family: Family, ns?: Netns): RouteState[] {
    return (this.routesByNs.get(ns?.path ?? 'host') ?? []).filter((r) => r.dst.family === family);
  }

  nexthops(): NexthopState[] | undefined {
    return this.nexthopList;
  }

  /** Records at send(), as the ops reach the kernel; a failure surfaces at result(), as from `ip`. */
  prepare(ns?: Netns, opts: { keepGoing?: boolean } = {}): PreparedBatch {
    let outcome: BatchOutcome | Error = { failed: [] };
    return {
      send: (ops) => {
        try {
          outcome = this.apply(ops, ns, opts);
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
      default:
        break;
    }
  }

  deleteLink(name: IfName, ns?: Netns): boolean {
    try {
      this.apply([{ op: 'link-del', dev: name }], ns);
      return true;
    } catch (e) {
      if (e instanceof KernelError && e.failure === 'not-found') return false;
      throw e;
    }
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

  egressMasq(backend: MasqBackendChoice): EgressMasq {
    return {
      sync: (family, pods, noMasq) => {
        this.record('host', `egress ${backend} v${family} ${pods.length} pods, ${noMasq.length} exempt`);
        return true;
      },
      remove: () => this.record('host', 'egress remove'),
      describe: () => 'recorded',
    };
  }
}
