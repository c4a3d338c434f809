// The flatnet-ipam store behind a network config, for `status` and `ipam`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfList } from '../cni/conflist.ts';
import { CniError, ErrorCode } from '../cni/errors.ts';
import { ipamDataDir, ipamType } from '../cni/ipam-contract.ts';
import { formatIp } from '../net/cidr.ts';
import { DiskStore } from '../../ipam/disk-store.ts';
import { damageText } from '../../ipam/store.ts';

export interface AllocationRow {
  ip: string;
  containerId: string;
  ifName: string;
  /** Set when the record names no owner: "empty record", "unreadable record (EACCES)", … (its address is still taken). */
  record?: string;
}

/** The flatnet-ipam store of a network; undefined when nothing was ever allocated. Throws when the network has no flatnet-ipam. */
export function storeOf(list: ConfList): DiskStore | undefined {
  const plugin = list.plugins.find((p) => ipamType(p) === 'flatnet-ipam');
  if (!plugin) throw new CniError(ErrorCode.InvalidNetworkConfig, `network ${list.name} (${list.path}) has no flatnet-ipam plugin`);
  const dataDir = ipamDataDir(plugin);
  return existsSync(join(dataDir, list.name)) ? new DiskStore(dataDir, list.name) : undefined;
}

/** The store's allocations in address order (the directory's order is no order). */
export const allocations = (list: ConfList): AllocationRow[] =>
  (storeOf(list)?.list() ?? [])
    .sort((a, b) => a.ip.family - b.ip.family || (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : 0))
    .map((al) => ({ ip: formatIp(al.ip), containerId: al.containerId, ifName: al.ifName, ...(al.damage ? { record: damageText(al.damage) } : {}) }));

export const allocationTable = (rows: AllocationRow[]): string[] => [
  'ADDRESS              CONTAINER                                                         IFNAME',
  ...rows.map((r) => `${r.ip.padEnd(20)} ${(r.record ? `(${r.record})` : r.containerId).padEnd(65)} ${r.ifName}`),
];
