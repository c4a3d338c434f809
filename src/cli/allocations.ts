// The flatnet-ipam store behind a network config, for `status` and `ipam`.
import type { ConfList } from '../cni/conflist.ts';
import { CniError, ErrorCode } from '../cni/errors.ts';
import { ipamDataDir, ipamType } from '../cni/ipam-contract.ts';
import { type AllocationRow, ipamList } from '../../ipam/commands.ts';
import { existingStore } from '../../ipam/inspect.ts';

export type { AllocationRow };

/** The flatnet-ipam store of a network; undefined when nothing was ever allocated. Throws when the network has no flatnet-ipam. */
export function storeOf(list: ConfList): ReturnType<typeof existingStore> {
  const plugin = list.plugins.find((p) => ipamType(p) === 'flatnet-ipam');
  if (!plugin) throw new CniError(ErrorCode.InvalidNetworkConfig, `network ${list.name} (${list.path}) has no flatnet-ipam plugin`);
  return existingStore(ipamDataDir(plugin), list.name);
}

/** The store's allocations in address order. */
export const allocations = (list: ConfList): AllocationRow[] => {
  const store = storeOf(list);
  return store ? ipamList(store) : [];
};

export const allocationTable = (rows: AllocationRow[]): string[] => [
  'ADDRESS              CONTAINER                                                         IFNAME',
  ...rows.map((r) => `${r.ip.padEnd(20)} ${(r.record ? `(${r.record})` : r.containerId).padEnd(65)} ${r.ifName}`),
];
