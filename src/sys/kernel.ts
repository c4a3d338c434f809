// The node's kernel as flatnet sees it: typed queries and typed operations.
// Plans (ADD, DEL, the agent's sync) are lists of `LinkOp`s built by pure
// code; a `Kernel` carries them out. The `ip` implementation (ip-kernel.ts) is
// the only code that prints command text, and it prints only these values;
// test/fakes/recording-kernel.ts records them for unit tests of plans and
// rollback.
import type { Addr, Cidr, Family } from '../net/cidr.ts';
import type { IfName, Mac } from '../net/names.ts';

/** A network namespace held open by this process; used by fd, never re-resolved by path. */
export interface Netns {
  /** The path the caller gave (for results and messages only). */
  readonly path: string;
  readonly fd: number;
}

export interface LinkAddr {
  cidr: Cidr;
  /** 'global', 'link', 'host'. */
  scope: string;
  /** IPv6 duplicate address detection not finished (tentative) or failed (dadfailed); read by link() only. */
  dad?: 'tentative' | 'failed';
}

export interface LinkState {
  name: string;
  ifindex: number;
  /** 'bridge', 'veth', … (undefined for plain devices). */
  kind?: string;
  mac?: string;
  mtu?: number;
  /** Administratively up. */
  up: boolean;
  operstate?: string;
  master?: string;
  /** ifindex of a veth's peer (in whichever namespace it lives). */
  peerIfindex?: number;
  promisc: boolean;
  hairpin?: boolean;
  /** The MAC was set explicitly, so a bridge keeps it as ports come and go; undefined when unknown. */
  macSet?: boolean;
  addrs: LinkAddr[];
}

export interface RouteState {
  dst: Cidr;
  via?: Addr;
  dev?: string;
  /** Routing protocol number as text ('2' is kernel, '4' static): never a name from rt_protos. */
  proto?: string;
  nhid?: number;
  metric?: number;
  table?: number;
}

export interface NexthopState {
  id: number;
  via?: Addr;
  dev?: string;
  /** Protocol number as text, as for routes. */
  proto?: string;
}

export interface Sysctl {
  /** '/'-separated (net/ipv4/conf/<ifname>/arp_notify), so dots in interface names survive. */
  key: string;
  value: '0' | '1' | '2';
}

/** One `ip` command, as data. */
export type LinkOp =
  | { op: 'bridge-add'; name: IfName; mac: Mac; mtu?: number }
  /** A veth pair whose peer is created directly in `peerNetns`. */
  | { op: 'veth-add'; name: IfName; mac: Mac; peer: IfName; peerMac: Mac; peerNetns: Netns; mtu?: number }
  | { op: 'link-set'; dev: IfName; master?: IfName; mac?: Mac; up?: boolean; promisc?: boolean }
  /** Port flags; one left out is left as it is. isolated: the port talks only to non-isolated ports (the bridge itself, uplinks), never to another isolated one. */
  | { op: 'bridge-port'; dev: IfName; hairpin?: boolean; isolated?: boolean }
  | { op: 'link-del'; dev: IfName }
  | { op: 'addr-add' | 'addr-replace' | 'addr-del'; dev: IfName; addr: Cidr; nodad?: boolean }
  /** route-prepend: NLM_F_CREATE without EXCL, as Go's netlink RouteAddEcmp: beside a route to the same destination (another gateway or device), never over it; only an identical one is "exists". */
  | { op: 'route-add' | 'route-replace' | 'route-prepend'; dst: Cidr; via?: Addr; dev?: IfName; nhid?: number; proto?: number; metric?: number; table?: number; scope?: number }
  | { op: 'route-del'; dst: Cidr; proto?: number; table?: number; metric?: number }
  | { op: 'nexthop-replace'; id: number; via: Addr; dev: IfName; proto: number }
  | { op: 'nexthop-del'; id: number };

/** Why a kernel operation failed, as far as callers need to decide. */
export type KernelFailure = 'exists' | 'not-found' | 'unreachable' | 'other';

/** A failed operation: which one, and the kernel's own words. */
export class KernelError extends Error {
  constructor(
    readonly failure: KernelFailure,
    /** The op that failed, when known (batches name their failing line). */
    readonly failedOp: LinkOp | undefined,
    readonly kernelMessage: string,
    /** What was asked, for the message (an `ip` command line or a file path). */
    readonly what: string,
  ) {
    super(`${what}: ${kernelMessage}`);
    this.name = 'KernelError';
  }
}

/**
 * A batch whose executor is already running, waiting for its ops: its
 * start-up overlaps whatever the caller does before send().
 */
export interface PreparedBatch {
  /**
   * Hands over ops and returns at once; the kernel works meanwhile. May be
   * called again with more (a plan whose later part waits on something else);
   * a failure of any of them surfaces at result().
   */
  send(ops: LinkOp[]): void;
  /**
   * Waits for the batch: throws the first failure's KernelError (or, with
   * keepGoing, reports every failure). A batch never sent ends unused.
   */
  result(): BatchOutcome;
}

export interface BatchOutcome {
  /** With `keepGoing`, the ops that failed (the rest were applied). */
  failed: Array<{ op: LinkOp; error: KernelError }>;
}

/** Per-attachment masquerade (the Go bridge plugin's `ipMasq`, in its layouts). */
export interface PodMasqAttachment {
  network: string;
  containerId: string;
  ifName: string;
  addresses: Cidr[];
}

/**
 * What a DEL knows of an attachment's masquerade: its addresses (prevResult,
 * which may be wrong), and the addresses still in use beside it (its
 * container's other live interfaces; read only when needed).
 */
export type PodMasqTeardown = Omit<PodMasqAttachment, 'addresses'> & { addresses?: Cidr[]; others?: () => Cidr[] };

export interface PodMasq {
  /** Sets up masquerade for the addresses; resolves when done (runs alongside other work). */
  setup(a: PodMasqAttachment): Promise<void>;
  /**
   * Removes it; fine when already gone. Without addresses, found by name;
   * then `others` are the addresses of the container's other live interfaces,
   * whose rules (in a layout shared per container, as iptables') stay.
   */
  teardown(a: PodMasqTeardown): void;
  /** Removes the masquerade of every attachment of `network` not in `valid`. */
  gc(network: string, valid: Array<{ containerId: string; ifName: string }>): void;
}

/** One attachment's spoof check (`macspoofchk`): frames from `hostVeth` must carry `mac`. */
export interface MacSpoofAttachment {
  /** `<containerID>-<ifname>`, as Go's uniqueID: it names the chains and the rules' comment. */
  refId: string;
  hostVeth: IfName;
  mac: Mac;
}

export interface MacSpoofCheck {
  /** Installs the attachment's rules; resolves when done (runs alongside other work). */
  setup(a: MacSpoofAttachment): Promise<void>;
  /** Removes the attachment's rules and chains; fine when they are gone. */
  teardown(refId: string): void;
  /** What is wrong with the attachment's rules (CHECK), or undefined. */
  problem(a: MacSpoofAttachment): string | undefined;
}

/** The agent's per-node egress masquerade: everything from the pod CIDRs except to `noMasq`. */
export interface EgressMasq {
  /** Brings the rules to this state; false when nothing had to change. */
  sync(family: Family, podCIDRs: Cidr[], noMasq: Cidr[]): boolean;
  /** Removes every rule the agent made. */
  remove(): void;
  /** What is installed now, for `flatnet status`. */
  describe(): string;
}

/** Network namespaces, held by fd while a verb works in them. */
export interface Namespaces {
  /**
   * Opens a namespace by path; undefined when it does not exist (with
   * `unmountedIsGone`, also when the path is an empty file: a netns mount
   * point whose namespace was unmounted); throws when the path is not a namespace.
   */
  openNetns(path: string, o?: { unmountedIsGone?: boolean }): Netns | undefined;
  closeNetns(ns: Netns): void;
}

/** Links with their addresses: read, and changed (routes and nexthops too) in `ip -batch` batches. */
export interface Links {
  link(name: IfName, ns?: Netns): LinkState | undefined;
  /**
   * What ADD needs of a link (kind, MAC, up, running as operstate, addresses;
   * no master or peer), read without a process where the platform can.
   */
  linkSummary(name: IfName, ns?: Netns): LinkState | undefined;
  links(ns?: Netns): LinkState[];

  /**
   * Carries out `ops` in order in one batch (in `ns` when given). Stops at the
   * first failure and throws its KernelError, unless `keepGoing`, which applies
   * every op it can and reports the failures.
   */
  apply(ops: LinkOp[], ns?: Netns, opts?: { keepGoing?: boolean }): BatchOutcome;
  /** A batch (in `ns` when given) started now and sent its ops later; apply() is prepare + send + result. */
  prepare(ns?: Netns, opts?: { keepGoing?: boolean }): PreparedBatch;
  /** Writes sysctls (in `ns` when given), skipping those already set; returns the keys that do not exist. */
  setSysctls(entries: Sysctl[], ns?: Netns): string[];
}

/** Routes and nexthop objects, as the kernel has them (changed through Links' batches). */
export interface Routes {
  routes(family: Family, ns?: Netns, filter?: { proto?: number; table?: 'main' | 'all' }): RouteState[];
  /** Every nexthop object; undefined when the kernel has none (before 5.3). */
  nexthops(): NexthopState[] | undefined;
}

/** Masquerade of a pod's addresses (the bridge plugin's ipMasq). */
export interface PodMasquerade {
  podMasq(backend: MasqBackendChoice): PodMasq;
}

/** The bridge-level MAC spoof check (macspoofchk), in Go's nftables layout. */
export interface SpoofCheck {
  macSpoofCheck(): MacSpoofCheck;
}

/** What the CNI plugins act through. */
export interface Kernel extends Namespaces, Links, Routes, PodMasquerade, SpoofCheck {}

/** What the agent acts through: the node's egress masquerade is its alone. */
export interface AgentKernel extends Kernel {
  egressMasq(backend: MasqBackendChoice): EgressMasq;
}

/** Kernel events, for the long-running agent (the CNI binaries never watch). */
export interface KernelEvents {
  /**
   * Calls `onChange` whenever links, addresses, routes or nexthops change in
   * this namespace, so the agent repairs what an admin or a link flap removed
   * without waiting for its resync timer. Returns a stop function.
   */
  watch(onChange: (what: string) => void): () => void;
}

export type MasqBackendChoice = 'iptables' | 'nftables' | 'auto';

/** Deletes a link through any Kernel; false when it was not there. */
export function deleteLink(k: Pick<Kernel, 'apply'>, name: IfName, ns?: Netns): boolean {
  try {
    k.apply([{ op: 'link-del', dev: name }], ns);
    return true;
  } catch (e) {
    if (e instanceof KernelError && e.failure === 'not-found') return false;
    throw e;
  }
}
