// flatnet-ipam's verbs (host-local semantics plus GC and STATUS). Handlers
// take the store as a parameter so they run in-process under the flatnet
// plugin and in the standalone binary alike.
import { readFileSync } from 'node:fs';
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import { isObject } from '../src/cni/json.ts';
import type { PluginFuncs } from '../src/cni/skel.ts';
import type { Attachment, CmdArgs, IPConfig, NetConfBase, Result } from '../src/cni/types.ts';
import { CURRENT_VERSION } from '../src/cni/version.ts';
import { formatCidr, formatIp } from '../src/net/cidr.ts';
import { allocate } from './allocator.ts';
import { type IpamConfig, parseIpamConfig, parseResolvConf } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { rangeFor, rangeSetSize, rangeSetToString } from './range.ts';
import { findById, type Store } from './store.ts';

export type StoreFactory = (cfg: IpamConfig) => Store;

const diskStore: StoreFactory = (cfg) => {
  try {
    return new DiskStore(cfg.dataDir, cfg.name);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot use IPAM data directory ${cfg.dataDir}/${cfg.name}: ${(e as Error).message}`, 'ipam.dataDir must be a writable directory');
  }
};

function withLock<T>(store: Store, fn: () => T): T {
  store.lock();
  try {
    return fn();
  } finally {
    store.unlock();
  }
}

function releaseById(store: Store, id: string, ifName: string): void {
  for (const a of findById(store.list(), id, ifName)) store.release(a.ip);
}

export function ipamAdd(cfg: IpamConfig, store: Store, id: string, ifName: string): Result {
  const ips: IPConfig[] = [];
  withLock(store, () => {
    const requested = [...cfg.requested];
    try {
      cfg.rangeSets.forEach((set, i) => {
        const idx = requested.findIndex((ip) => rangeFor(set, ip) !== undefined);
        const req = idx >= 0 ? requested.splice(idx, 1)[0] : undefined;
        try {
          const a = allocate(store, set, i, id, ifName, req);
          ips.push({ address: formatCidr(a.address), gateway: formatIp(a.gateway) });
        } catch (e) {
          if (e instanceof CniError) throw new CniError(e.code, `failed to allocate for range ${i}: ${e.message}`, e.details);
          throw e;
        }
      });
      if (requested.length > 0) {
        throw new CniError(ErrorCode.AddressUnavailable, `failed to allocate all requested IPs: ${requested.map(formatIp).join(', ')}`, `configured range sets: ${cfg.rangeSets.map(rangeSetToString).join(' ')}`);
      }
    } catch (e) {
      // Nothing of a failed ADD stays allocated.
      releaseById(store, id, ifName);
      throw e;
    }
  });
  const result: Result = { cniVersion: CURRENT_VERSION, ips };
  if (cfg.routes.length) result.routes = cfg.routes;
  if (cfg.resolvConf) {
    try {
      result.dns = parseResolvConf(readFileSync(cfg.resolvConf, 'utf8'));
    } catch (e) {
      releaseById(store, id, ifName);
      throw new CniError(ErrorCode.InvalidNetworkConfig, `cannot read ipam.resolvConf ${cfg.resolvConf}: ${(e as Error).message}`);
    }
  }
  return result;
}

export function ipamDel(store: Store, id: string, ifName: string): void {
  withLock(store, () => releaseById(store, id, ifName));
}

export function ipamCheck(store: Store, id: string, ifName: string): void {
  if (findById(store.list(), id, ifName).length === 0) {
    throw new CniError(ErrorCode.Internal, `flatnet-ipam: Failed to find address added by container ${id}`, `no allocation for interface ${ifName} in the store`);
  }
}

export function ipamStatus(cfg: IpamConfig, store: Store): void {
  const all = store.list();
  const exhausted = cfg.rangeSets.every((set) => BigInt(all.filter((a) => rangeFor(set, a.ip)).length) >= rangeSetSize(set));
  if (exhausted) {
    throw new CniError(ErrorCode.NotAvailable, 'no IP addresses available: every range set is exhausted', cfg.rangeSets.map(rangeSetToString).join(' '));
  }
}

/** Parses cni.dev/valid-attachments (or the 1.1.0 tag's cni.dev/attachments). */
export function validAttachments(conf: NetConfBase): Attachment[] {
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'] ?? [];
  if (!Array.isArray(raw)) throw new CniError(ErrorCode.InvalidNetworkConfig, 'cni.dev/valid-attachments must be a list of {containerID, ifname}');
  return raw.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `cni.dev/valid-attachments[${i}] must be {"containerID": "...", "ifname": "..."}`);
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/** Releases every allocation not in the valid list; returns how many. */
export function ipamGc(store: Store, valid: Attachment[]): number {
  const keep = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
  const keepIds = new Set(valid.map((a) => a.containerID));
  return withLock(store, () => {
    let n = 0;
    for (const a of store.list()) {
      // Legacy records carry no ifname; keep them while their container is alive.
      const live = a.ifName === '' ? keepIds.has(a.containerId) : keep.has(`${a.containerId}\n${a.ifName}`);
      if (!live) {
        store.release(a.ip);
        n++;
      }
    }
    return n;
  });
}

export function ipamFuncs(storeFor: StoreFactory = diskStore): PluginFuncs {
  const cfgOf = (args: CmdArgs, conf: NetConfBase): IpamConfig => parseIpamConfig(conf, args.args);
  return {
    add: async (args, conf) => {
      const cfg = cfgOf(args, conf);
      return ipamAdd(cfg, storeFor(cfg), args.containerId, args.ifName);
    },
    del: async (args, conf) => {
      const cfg = cfgOf(args, conf);
      ipamDel(storeFor(cfg), args.containerId, args.ifName);
    },
    check: async (args, conf) => {
      const cfg = cfgOf(args, conf);
      ipamCheck(storeFor(cfg), args.containerId, args.ifName);
    },
    status: async (args, conf) => {
      const cfg = cfgOf(args, conf);
      ipamStatus(cfg, storeFor(cfg));
    },
    gc: async (args, conf) => {
      const cfg = cfgOf(args, conf);
      ipamGc(storeFor(cfg), validAttachments(conf));
    },
  };
}
