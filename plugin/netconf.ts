// The bridge plugin's config, with the Go bridge plugin's field names and
// defaults, so switching from bridge to flatnet changes only "type".
import { parseCniArgs, validateIfName } from '../src/cni/args.ts';
import { CniError, configError, ErrorCode } from '../src/cni/errors.ts';
import { getKey, type JsonObject, optBool, optInt, optObject, optString, optStringArray } from '../src/cni/json.ts';
import type { DNS, NetConfBase } from '../src/cni/types.ts';
import { KNOWN_CNI_ARGS, ipamType } from '../ipam/config.ts';

export interface BridgeConf {
  name: string;
  cniVersion: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  mac?: string;
  ipamType?: string;
  dns?: DNS;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

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

function unsupported(field: string, value: unknown): CniError {
  return new CniError(ErrorCode.UnsupportedField, `unsupported field "${field}": ${JSON.stringify(value)}`, `flatnet does not implement ${field}; remove it or use the Go bridge plugin for this network`);
}

export function parseBridgeConf(conf: NetConfBase, cniArgs: string): BridgeConf {
  const bridge = optString(conf, 'bridge', '') || 'cni0';
  try {
    validateIfName(bridge);
  } catch (e) {
    throw configError(`bridge ${JSON.stringify(bridge)} is not a valid interface name: ${(e as Error).message}`);
  }
  const isDefaultGateway = optBool(conf, 'isDefaultGateway', '');
  const hairpinMode = optBool(conf, 'hairpinMode', '');
  const promiscMode = optBool(conf, 'promiscMode', '');
  if (hairpinMode && promiscMode) throw configError('cannot set hairpin mode and promiscuous mode at the same time');

  for (const k of ['vlan', 'vlanTrunk', 'macspoofchk', 'disableContainerInterface', 'portIsolation']) {
    const v = getKey(conf, k);
    if (v !== undefined && v !== null && v !== false && v !== 0 && !(Array.isArray(v) && v.length === 0)) throw unsupported(k, v);
  }
  const backend = optString(conf, 'ipMasqBackend', '');
  if (backend && backend !== 'iptables') throw unsupported('ipMasqBackend', backend);

  // MAC precedence as in Go: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC.
  const rc = optObject(conf, 'runtimeConfig', '');
  const argsCni = optObject(optObject(conf, 'args', '') ?? {}, 'cni', 'args.');
  const mac = (rc && optString(rc, 'mac', 'runtimeConfig.')) || (argsCni && optString(argsCni, 'mac', 'args.cni.')) || parseCniArgs(cniArgs, KNOWN_CNI_ARGS).get('MAC') || undefined;
  if (mac !== undefined && !MAC_RE.test(mac)) throw configError(`invalid MAC address ${JSON.stringify(mac)}`, 'use the form c2:11:22:33:44:55');
  if (mac !== undefined && (parseInt(mac.slice(0, 2), 16) & 1) === 1) throw configError(`MAC address ${mac} is a multicast address`, 'the first octet must be even');

  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    bridge,
    isGateway: optBool(conf, 'isGateway', '') || isDefaultGateway,
    isDefaultGateway,
    forceAddress: optBool(conf, 'forceAddress', ''),
    ipMasq: optBool(conf, 'ipMasq', ''),
    mtu: optInt(conf, 'mtu', '', 0, 65535) || undefined,
    hairpinMode,
    promiscMode,
    enableDad: optBool(conf, 'enabledad', ''),
    mac: mac?.toLowerCase(),
    ipamType: optObject(conf, 'ipam', '') && ipamType(conf),
    dns: parseDns(optObject(conf, 'dns', '')),
  };
}
