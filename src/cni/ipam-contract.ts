// What the bridge plugin, the IPAM plugin and the CLI agree on about IPAM:
// where its type is, which CNI_ARGS keys the pair understands, and where
// host-local keeps its store by default.
import { getKey, isObject, type JsonObject } from './json.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

// CNI_ARGS keys the pair of plugins understands; the bridge's MAC is accepted
// here too so a runtime need not send IgnoreUnknown just for it.
export const KNOWN_CNI_ARGS = ['IP', 'MAC'] as const;

/** The `ipam.type` of a plugin config (keys matched as Go does). */
export function ipamType(conf: JsonObject): string | undefined {
  const ipam = getKey(conf, 'ipam');
  return isObject(ipam) && typeof ipam.type === 'string' ? ipam.type : undefined;
}

/** The `ipam.dataDir` of a plugin config, or host-local's default. */
export function ipamDataDir(conf: JsonObject): string {
  const ipam = getKey(conf, 'ipam');
  const dir = isObject(ipam) ? getKey(ipam, 'dataDir') : undefined;
  return typeof dir === 'string' && dir !== '' ? dir : DEFAULT_DATA_DIR;
}
