// host-local's configuration (plugins/ipam/host-local/backend/allocator/config.go):
// pure parsing and validation of the network config plus CNI_ARGS into what
// the allocator needs. Every error names the field and the fix.
import { parseCniArgs } from '../src/cni/args.ts';
import { CniError, configError, ErrorCode } from '../src/cni/errors.ts';
import { isObject, type JsonObject, optArray, optObject, optString, optStringArray } from '../src/cni/json.ts';
import { DEFAULT_DATA_DIR, KNOWN_CNI_ARGS } from '../src/cni/ipam-contract.ts';
import type { Route } from '../src/cni/types.ts';
import { type Addr, parseCidr, parseIp } from '../src/net/cidr.ts';
import { canonicalizeRangeSet, InvalidRangeError, type RangeSet, type RangeSpec, rangeSetsOverlap } from './range.ts';


export interface IpamConfig {
  name: string;
  dataDir: string;
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf?: string;
  requested: Addr[];
}

function rangeSpec(raw: unknown, where: string): RangeSpec {
  if (!isObject(raw)) throw configError(`${where} must be an object like {"subnet": "10.22.0.0/24"}`);
  return {
    subnet: optString(raw, 'subnet', `${where}.`) ?? '',
    rangeStart: optString(raw, 'rangeStart', `${where}.`),
    rangeEnd: optString(raw, 'rangeEnd', `${where}.`),
    gateway: optString(raw, 'gateway', `${where}.`),
  };
}

function rangeSetSpecs(raw: unknown[], where: string): RangeSpec[][] {
  return raw.map((set, i) => {
    if (!Array.isArray(set)) throw configError(`${where}[${i}] must be a list of ranges (a range set), e.g. [{"subnet": "10.22.0.0/24"}]`);
    return set.map((r, j) => rangeSpec(r, `${where}[${i}][${j}]`));
  });
}

export function parseRoutes(raw: unknown[] | undefined, where: string): Route[] {
  return (raw ?? []).map((r, i) => {
    if (!isObject(r)) throw configError(`${where}[${i}] must be an object like {"dst": "0.0.0.0/0"}`);
    const dst = optString(r, 'dst', `${where}[${i}].`);
    if (!dst || !parseCidr(dst)) throw configError(`${where}[${i}].dst must be a CIDR such as 0.0.0.0/0, got ${JSON.stringify(dst)}`);
    const gw = optString(r, 'gw', `${where}[${i}].`);
    const gwIp = gw ? parseIp(gw) : undefined;
    if (gw && !gwIp) throw configError(`${where}[${i}].gw must be an IP address, got ${JSON.stringify(gw)}`);
    // Caught here it is the config's fault (7), not a bad IPAM result the bridge finds after the lease.
    if (gwIp && gwIp.family !== parseCidr(dst)!.family) throw configError(`${where}[${i}].gw ${gw} is not in the address family of dst ${dst}`);
    return gw ? { dst, gw } : { dst };
  });
}

function requestedIp(s: unknown, where: string): Addr {
  const str = typeof s === 'string' ? s.split('/')[0]! : '';
  const a = parseIp(str);
  if (!a) throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: ${JSON.stringify(s)} is not an IP address`);
  return a;
}

export function parseIpamConfig(conf: JsonObject, cniArgs: string): IpamConfig {
  const ipam = optObject(conf, 'ipam', '');
  if (!ipam) throw configError("IPAM config missing 'ipam' key");
  const runtimeConfig = optObject(conf, 'runtimeConfig', '') ?? {};

  const specs: RangeSpec[][] = [];
  const legacySubnet = optString(ipam, 'subnet', 'ipam.');
  const runtimeRanges = optArray(runtimeConfig, 'ipRanges', 'runtimeConfig.');
  if (runtimeRanges) specs.push(...rangeSetSpecs(runtimeRanges, 'runtimeConfig.ipRanges'));
  if (legacySubnet) specs.push([rangeSpec(ipam, 'ipam')]);
  specs.push(...rangeSetSpecs(optArray(ipam, 'ranges', 'ipam.') ?? [], 'ipam.ranges'));
  if (specs.length === 0) throw configError('no IP ranges specified', 'set ipam.ranges, e.g. [[{"subnet": "10.22.0.0/24"}]]');

  const rangeSets = specs.map((s, i) => {
    try {
      return canonicalizeRangeSet(s);
    } catch (e) {
      if (e instanceof InvalidRangeError) throw configError(`invalid range set ${i}: ${e.message}`);
      throw e;
    }
  });
  for (let i = 0; i < rangeSets.length; i++) {
    for (let j = i + 1; j < rangeSets.length; j++) {
      if (rangeSetsOverlap(rangeSets[i]!, rangeSets[j]!)) throw configError(`range set ${i} overlaps with ${j}`);
    }
  }

  const requested: Addr[] = [];
  const ipArg = parseCniArgs(cniArgs, KNOWN_CNI_ARGS).get('IP');
  // Newer host-local takes a comma-separated list in IP=.
  if (ipArg) for (const s of ipArg.split(',')) requested.push(requestedIp(s, 'CNI_ARGS IP'));
  const args = optObject(conf, 'args', '');
  const cniArgsObj = args && optObject(args, 'cni', 'args.');
  for (const s of (cniArgsObj && optStringArray(cniArgsObj, 'ips', 'args.cni.')) ?? []) requested.push(requestedIp(s, 'args.cni.ips'));
  for (const s of optStringArray(runtimeConfig, 'ips', 'runtimeConfig.') ?? []) requested.push(requestedIp(s, 'runtimeConfig.ips'));

  const dataDir = optString(ipam, 'dataDir', 'ipam.') || DEFAULT_DATA_DIR;
  return {
    name: conf.name as string,
    dataDir,
    rangeSets,
    routes: parseRoutes(optArray(ipam, 'routes', 'ipam.'), 'ipam.routes'),
    resolvConf: optString(ipam, 'resolvConf', 'ipam.') || undefined,
    requested,
  };
}

/** resolv.conf into the result's dns, with Go host-local's rules. */
export function parseResolvConf(text: string): { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] } {
  const dns: { nameservers: string[]; domain?: string; search: string[]; options: string[] } = { nameservers: [], search: [], options: [] };
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const [key, ...fields] = t.split(/\s+/);
    if (key === 'nameserver' && fields[0]) dns.nameservers.push(fields[0]);
    else if (key === 'domain' && fields[0]) dns.domain = fields[0];
    else if (key === 'search') dns.search.push(...fields);
    else if (key === 'options') dns.options.push(...fields);
  }
  return Object.fromEntries(Object.entries(dns).filter(([, v]) => (Array.isArray(v) ? v.length > 0 : v !== undefined)));
}
