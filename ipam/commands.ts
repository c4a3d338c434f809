// flatnet-ipam's verbs (host-local semantics plus GC and STATUS). Handlers
// take the store as a parameter so they run in-process under the flatnet
// plugin and in the standalone binary alike.
import { readFileSync } from 'node:fs';
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import { validAttachments } from '../src/cni/attachments.ts';
import type { PluginFuncs } from '../src/cni/skel.ts';
import type { ValidAttachment, CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import { CURRENT_VERSION } from '../src/cni/version.ts';
import { formatCidr, formatIp } from '../src/net/cidr.ts';
import { mark } from '../src/profile.ts';
import { type Allocated, allocate } from './allocator.ts';
import { type IpamConfig, parseIpamConfig, parseResolvConf } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { rangeFor, rangeSetSize, rangeSetToString } from './range.ts';
import { type Allocation, damageText, type Store } from './store.ts';
import { log } from '../src/log.ts';

export type StoreFactory = (cfg: IpamConfig) => Store;

const diskStore: StoreFactory = (cfg) => {
  try {
    return new DiskStore(cfg.dataDir, cfg.name);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot use IPAM data directory ${cfg.dataDir}/${cfg.name}: ${(e as Error).message}`, 'ipam.dataDir must be a writable directory');
  }
};

function withLock<T>(store: Store, fn: () => T, owner?: { id: string; ifName: string }): T {
  store.lock(owner);
  mark('ipam-lock');
  try {
    return fn();
  } finally {
    store.unlock();
    mark('ipam-unlock');
  }
}

function releaseById(store: Store, id: string, ifName: string): void {
  for (const a of store.findByOwner(id, ifName)) store.release(a.ip);
}

export function ipamAdd(cfg: IpamConfig, store: Store, id: string, ifName: string): Result {
  const result: Result = { cniVersion: CURRENT_VERSION, ips: [] };
  // Read before anything is reserved: a bad resolvConf fails with nothing to undo.
  if (cfg.resolvConf) {
    try {
      result.dns = parseResolvConf(readFileSync(cfg.resolvConf, 'utf8'));
    } catch (e) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `cannot read ipam.resolvConf ${cfg.resolvConf}: ${(e as Error).message}`);
    }
  }
  withLock(store, () => {
    const requested = [...cfg.requested];
    // What this call reserved, and only that, is released when it fails: an
    // ADD repeated for a live pod (code 102) must leave the pod's lease alone.
    const reserved: Allocated[] = [];
    try {
      cfg.rangeSets.forEach((set, i) => {
        const idx = requested.findIndex((ip) => rangeFor(set, ip) !== undefined);
        const req = idx >= 0 ? requested.splice(idx, 1)[0] : undefined;
        try {
          reserved.push(allocate(store, set, i, id, ifName, req));
        } catch (e) {
          if (e instanceof CniError) throw new CniError(e.code, `failed to allocate for range ${i}: ${e.message}`, e.details);
          throw e;
        }
      });
      if (requested.length > 0) {
        throw new CniError(ErrorCode.AddressUnavailable, `failed to allocate all requested IPs: ${requested.map(formatIp).join(', ')}`, `configured range sets: ${cfg.rangeSets.map(rangeSetToString).join(' ')}`);
      }
    } catch (e) {
      for (const a of reserved) store.release(a.address);
      throw e;
    }
    result.ips = reserved.map((a) => ({ address: formatCidr(a.address), gateway: formatIp(a.gateway) }));
  }, { id, ifName });
  if (cfg.routes.length) result.routes = cfg.routes;
  return result;
}

export function ipamDel(store: Store, id: string, ifName: string): void {
  withLock(store, () => releaseById(store, id, ifName));
}

// Under the lock, as Go's FindByID: an ADD or DEL of this attachment is then
// either done or not begun, never half way.
export function ipamCheck(store: Store, id: string, ifName: string): void {
  const found = withLock(store, () => store.findByOwner(id, ifName));
  if (found.length === 0) {
    throw new CniError(ErrorCode.Internal, `flatnet-ipam: Failed to find address added by container ${id}`, `no allocation for interface ${ifName} in the store`);
  }
}

// An ADD takes one address from every range set, so one full set (the v4 half
// of a dual-stack config) fails every ADD: that is not ready.
export function ipamStatus(cfg: IpamConfig, store: Store): void {
  const all = store.list();
  const full = cfg.rangeSets.map((set, i) => ({ set, i })).filter(({ set }) => BigInt(all.filter((a) => rangeFor(set, a.ip)).length) >= rangeSetSize(set));
  if (full.length > 0) {
    const which = full.map(({ set, i }) => `${i} (${rangeSetToString(set)})`).join(', ');
    throw new CniError(ErrorCode.NotAvailable, `no IP addresses available in range set ${which}`, 'every ADD needs an address from each range set; free addresses (DEL, GC) or enlarge the range');
  }
}

/** One allocation as the CLI shows it (`flatnet ipam ls`, `status`) and GC reports it. */
export interface AllocationRow {
  ip: string;
  containerId: string;
  ifName: string;
  /** What is wrong with the record, when it names no owner (damageText). */
  record?: string;
}

export interface GcOutcome {
  released: AllocationRow[];
  /** Records that could not be read: whose they are is unknown, so they are kept. */
  unreadable: AllocationRow[];
}

const rowOf = (a: Allocation): AllocationRow => ({ ip: formatIp(a.ip), containerId: a.containerId, ifName: a.ifName, ...(a.damage ? { record: damageText(a.damage) } : {}) });

/** A store's allocations in address order (the directory's order is no order). */
export function ipamList(store: Store): AllocationRow[] {
  return store
    .list()
    .sort((a, b) => a.ip.family - b.ip.family || (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : 0))
    .map(rowOf);
}

/** Releases every allocation not in `valid` (with dryRun, only says which). */
export function ipamGc(store: Store, valid: ValidAttachment[], o: { dryRun?: boolean } = {}): GcOutcome {
  const keep = new Set(valid.map((a) => `${a.containerId}\n${a.ifName}`));
  const keepIds = new Set(valid.map((a) => a.containerId));
  return withLock(store, () => {
    const out: GcOutcome = { released: [], unreadable: [] };
    for (const a of store.list()) {
      const row = rowOf(a);
      if (a.damage?.kind === 'unreadable') {
        out.unreadable.push(row);
        continue;
      }
      // An empty or oversized record names no attachment: under the lock no
      // writer is between create and write, so it is a crashed writer's and
      // live for nobody. Legacy records carry no ifname; keep them while their
      // container is alive.
      const live = a.damage ? false : a.ifName === '' ? keepIds.has(a.containerId) : keep.has(`${a.containerId}\n${a.ifName}`);
      if (!live) {
        if (!o.dryRun) store.release(a.ip);
        out.released.push(row);
      }
    }
    return out;
  });
}

/** The verbs flatnet-ipam answers, by CNI_COMMAND. */
export type IpamVerb = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

/**
 * One verb on an already parsed config: the typed entry both the standalone
 * binary (through ipamFuncs) and the bridge plugin in-process use, so the
 * config is parsed once per call and the skel is entered once.
 */
export async function runIpamVerb(command: IpamVerb, cfg: IpamConfig, att: { containerId: string; ifName: string }, valid: () => ValidAttachment[], storeFor: StoreFactory = diskStore): Promise<Result | undefined> {
  switch (command) {
    case 'ADD':
      return ipamAdd(cfg, storeFor(cfg), att.containerId, att.ifName);
    case 'DEL':
      return void ipamDel(storeFor(cfg), att.containerId, att.ifName);
    case 'CHECK':
      return void ipamCheck(storeFor(cfg), att.containerId, att.ifName);
    case 'STATUS':
      return void ipamStatus(cfg, storeFor(cfg));
    case 'GC': {
      const { unreadable } = ipamGc(storeFor(cfg), valid());
      if (unreadable.length > 0) {
        await log('warn', { network: cfg.name, records: unreadable.map((r) => `${r.ip}: ${r.record}`) }, 'GC kept IPAM records it cannot read (whose they are is unknown); check their permissions');
      }
      return undefined;
    }
  }
}

export function ipamFuncs(storeFor: StoreFactory = diskStore): PluginFuncs {
  const verb = (command: IpamVerb) => (args: CmdArgs, conf: NetConfBase) => runIpamVerb(command, parseIpamConfig(conf, args.args), args, () => validAttachments(conf), storeFor);
  const none = (command: IpamVerb) => async (args: CmdArgs, conf: NetConfBase) => void (await verb(command)(args, conf));
  return {
    add: async (args, conf) => (await verb('ADD')(args, conf))!,
    del: none('DEL'),
    check: none('CHECK'),
    status: none('STATUS'),
    gc: none('GC'),
  };
}
