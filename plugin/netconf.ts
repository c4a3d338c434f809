// The bridge plugin's config, with the Go bridge plugin's field names and
// defaults, so switching from bridge to flatnet changes only "type".
import { parseCniArgs } from '../src/cni/args.ts';
import { answerAs, CniError, configError, ErrorCode } from '../src/cni/errors.ts';
import { getKey, type JsonObject, optBool, optInt, optObject, optString, optStringArray } from '../src/cni/json.ts';
import type { DNS, NetConfBase } from '../src/cni/types.ts';
import { KNOWN_CNI_ARGS, ipamType } from '../src/cni/ipam-contract.ts';
import { type IfName, type Mac, parseIfName, parseMac } from '../src/net/names.ts';
import type { MasqBackendChoice } from '../src/sys/kernel.ts';
import type { IpamTarget } from './deps.ts';

export interface BridgeConf {
  name: string;
  cniVersion: string;
  bridge: IfName;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend: MasqBackendChoice;
  mtu?: number;
  hairpinMode: boolean;
  /** The Go plugin's portIsolation: pods on the bridge reach the gateway, not each other at L2. */
  portIsolation: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  /** Go's macspoofchk: frames from the pod with another source MAC are dropped (nftables, Go's layout). */
  macSpoofChk: boolean;
  /**
   * Newer Go's disableContainerInterface, for an L2-only network: the pod's
   * interface is left down. With an IPAM it is ignored, as Go 1.1.1 does.
   */
  disableContainerInterface: boolean;
  /** newer Go's vlanTrunk, read and checked as Go reads it (the VLAN ids, sorted); not programmed (see README, Options). */
  vlanTrunk?: number[];
  /** What the config asks for that this ADD does not do, said on stderr. */
  warnings: string[];
  mac?: Mac;
  /** The IPAM plugin to delegate to; absent for an L2-only bridge. */
  ipam?: IpamTarget;
  dns?: DNS;
}

function parseDns(raw: JsonObject | undefined): DNS | undefined {
  if (!raw) return undefined;
  const dns: DNS = {};
  const ns = optStringArray(raw, 'nameservers', 'dns.');
  const domain = optString(raw, 'domain', 'dns.');
  const search = optStringArray(raw, 'search', 'dns.');
  const options = optStringArray(raw, 'options', 'dns.');
  if (ns?.length) dns.nameservers = ns;
  if (domain) dns.domain = domain;
  if (search?.length) dns.search = search;
  if (options?.length) dns.options = options;
  return Object.keys(dns).length ? dns : undefined;
}

/** What DEL needs of the config. */
export interface DelConf {
  name: string;
  ipMasq: boolean;
  ipMasqBackend: MasqBackendChoice;
  /** Whether the pod may have spoof-check rules to remove. */
  macSpoofChk: boolean;
  ipam?: IpamTarget;
}

/**
 * The config as DEL reads it: only what it needs, and nothing in it fails the
 * DEL. A config ADD would refuse (an option flatnet does not implement,
 * hairpinMode with promiscMode, a bad MTU or MAC) may still name a pod that
 * exists (made by Go, or by another version): its veth, lease and rules go.
 * An ipMasq or macspoofchk that does not read as a boolean removes the
 * masquerade or spoof check too (a removal that finds nothing does nothing).
 */
export function parseDelConf(conf: NetConfBase): DelConf {
  let ipMasq: boolean;
  try {
    ipMasq = optBool(conf, 'ipMasq', '');
  } catch {
    ipMasq = true;
  }
  const backend = getKey(conf, 'ipMasqBackend');
  const type = ipamType(conf);
  let macSpoofChk: boolean;
  try {
    macSpoofChk = optBool(conf, 'macspoofchk', '');
  } catch {
    macSpoofChk = true;
  }
  return {
    name: conf.name,
    ipMasq,
    macSpoofChk,
    ipMasqBackend: backend === 'iptables' || backend === 'nftables' ? backend : 'auto',
    ...(type ? { ipam: { type, cniVersion: conf.cniVersion } } : {}),
  };
}

/** Go's collectVlanTrunk (plugins v1.5+): each entry an id or a minID..maxID range, 1 to 4094; the union, sorted. */
export function parseVlanTrunk(raw: unknown): number[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw configError(`vlanTrunk must be a list, got ${JSON.stringify(raw)}`);
  const ids = new Set<number>();
  const id = (o: JsonObject, k: string, i: number): number | undefined => {
    const v = getKey(o, k);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 4094) throw configError(`incorrect trunk ${k} parameter: vlanTrunk[${i}].${k} must be a VLAN id from 1 to 4094, got ${JSON.stringify(v)}`);
    return v;
  };
  raw.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw configError(`vlanTrunk[${i}] must be an object with id or minID and maxID`);
    const o = item as JsonObject;
    const [min, max, one] = [id(o, 'minID', i), id(o, 'maxID', i), id(o, 'id', i)];
    if ((min === undefined) !== (max === undefined)) throw configError(`minID and maxID should be configured simultaneously, ${min === undefined ? 'minID' : 'maxID'} is missing (vlanTrunk[${i}])`);
    if (min !== undefined && max !== undefined) {
      if (max < min) throw configError(`minID is greater than maxID in trunk parameter (vlanTrunk[${i}])`);
      for (let v = min; v <= max; v++) ids.add(v);
    }
    if (one !== undefined) ids.add(one);
  });
  return ids.size ? [...ids].sort((a, b) => a - b) : undefined;
}

export function parseBridgeConf(conf: NetConfBase, cniArgs: string): BridgeConf {
  const bridge = answerAs(ErrorCode.InvalidNetworkConfig, () => parseIfName(optString(conf, 'bridge', '') || 'cni0', 'bridge'));
  const isDefaultGateway = optBool(conf, 'isDefaultGateway', '');
  const hairpinMode = optBool(conf, 'hairpinMode', '');
  const promiscMode = optBool(conf, 'promiscMode', '');
  if (hairpinMode && promiscMode) throw configError('cannot set hairpin mode and promiscuous mode at the same time');

  // preserveDefaultVlan means something only beside vlan (refused) or
  // vlanTrunk (ignored): accepted and ignored, as Go 1.1.1 ignores it.
  const v = getKey(conf, 'vlan');
  // A VLAN tag on the port needs the bridge's VLAN filtering, which flatnet
  // does not program (kernels built without CONFIG_BRIDGE_VLAN_FILTERING,
  // such as this project's test machines, cannot test it): a clear refusal.
  if (v !== undefined && v !== null && v !== false && v !== 0) {
    throw new CniError(ErrorCode.UnsupportedField, `unsupported field "vlan": ${JSON.stringify(v)}: tagging pod ports needs bridge VLAN filtering, which flatnet does not program`, 'remove vlan, or use the Go bridge plugin for this network on a kernel with CONFIG_BRIDGE_VLAN_FILTERING');
  }
  const warnings: string[] = [];
  const vlanTrunk = parseVlanTrunk(getKey(conf, 'vlanTrunk'));
  if (vlanTrunk) warnings.push(`vlanTrunk ignored, as Go 1.1.1 does: the bridge does not filter VLANs, so the pod's port carries every VLAN, the trunk's among them`);
  const ipamTypeOf = optObject(conf, 'ipam', '') && ipamType(conf);
  let disableContainerInterface = optBool(conf, 'disableContainerInterface', '');
  if (disableContainerInterface && ipamTypeOf) {
    // Newer Go refuses the pair; Go 1.1.1 brings the interface up with its addresses: so does flatnet, so the conflist keeps working.
    warnings.push('disableContainerInterface ignored: the network has an IPAM, so the interface is brought up with its addresses, as Go 1.1.1 does (newer Go refuses the pair)');
    disableContainerInterface = false;
  }
  // Unset: the Go plugin's choice, made when masquerade is set up (src/sys/masq.ts).
  const rawBackend = optString(conf, 'ipMasqBackend', '') ?? '';
  if (rawBackend !== '' && rawBackend !== 'iptables' && rawBackend !== 'nftables') {
    throw configError(`ipMasqBackend must be "iptables" or "nftables", got ${JSON.stringify(rawBackend)}`);
  }
  const backend: MasqBackendChoice = rawBackend === '' ? 'auto' : rawBackend;

  // MAC precedence as in Go: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC.
  const rc = optObject(conf, 'runtimeConfig', '');
  const argsCni = optObject(optObject(conf, 'args', '') ?? {}, 'cni', 'args.');
  const rawMac = (rc && optString(rc, 'mac', 'runtimeConfig.')) || (argsCni && optString(argsCni, 'mac', 'args.cni.')) || parseCniArgs(cniArgs, KNOWN_CNI_ARGS).get('MAC') || undefined;
  const mac = rawMac === undefined ? undefined : answerAs(ErrorCode.InvalidNetworkConfig, () => parseMac(rawMac, 'mac'));

  const mtu = optInt(conf, 'mtu', '', 0, 65535) || undefined;
  // The kernel's floor for bridges and veths (ETH_MIN_MTU): below it the bridge
  // add fails, after the IPAM has handed out an address.
  if (mtu !== undefined && mtu < 68) throw configError(`mtu ${mtu} is below 68, the smallest MTU a bridge or veth takes`, 'leave mtu out (or 0) for the default, or set 68 to 65535');
  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    bridge,
    isGateway: optBool(conf, 'isGateway', '') || isDefaultGateway,
    isDefaultGateway,
    forceAddress: optBool(conf, 'forceAddress', ''),
    ipMasq: optBool(conf, 'ipMasq', ''),
    ipMasqBackend: backend,
    mtu,
    hairpinMode,
    portIsolation: optBool(conf, 'portIsolation', ''),
    promiscMode,
    enableDad: optBool(conf, 'enabledad', ''),
    macSpoofChk: optBool(conf, 'macspoofchk', ''),
    disableContainerInterface,
    ...(vlanTrunk ? { vlanTrunk } : {}),
    warnings,
    mac,
    ...(ipamTypeOf ? { ipam: { type: ipamTypeOf, cniVersion: conf.cniVersion } } : {}),
    dns: parseDns(optObject(conf, 'dns', '')),
  };
}
