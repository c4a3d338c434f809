// Spec versions and result conversion. Handlers build 1.1.0-shaped results;
// convertResult turns them into what the config's cniVersion asks for, and
// toCurrent reads results/prevResults of any supported version.
import { CniError, ErrorCode } from './errors.ts';
import { isObject } from './json.ts';
import type { IPConfig, Interface, Result, Route } from './types.ts';

// 0.1.0 and 0.2.0 as Go's plugins take them (a config without cniVersion is
// 0.1.0, as libcni reads it): the work is the same, the result has 0.2.0's shape.
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

/** Numeric comparison of x.y.z strings; only called on validated versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

export function assertSupported(v: string): void {
  if (!isSupported(v)) {
    throw new CniError(
      ErrorCode.IncompatibleCniVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports [${SUPPORTED_VERSIONS.map((s) => `"${s}"`).join(' ')}]`,
    );
  }
}

const isV4 = (cidrOrIp: string): boolean => !cidrOrIp.includes(':');

/** Spec 0.1.0 and 0.2.0: one address per family, no interfaces. */
const isV02 = (version: string): boolean => compareVersions(version, '0.3.0') < 0;

interface IPConfig020 {
  ip: string;
  gateway?: string;
  routes?: Array<{ dst: string; gw?: string }>;
}

/**
 * The 0.2.0 shape, as Go converts to it: the first address of each family as
 * `ip4`/`ip6` with the routes of that family (dst and gw only), `dns` always.
 */
function toV02(r: Result, version: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: version };
  for (const [key, v4] of [['ip4', true], ['ip6', false]] as const) {
    const ip = r.ips?.find((i) => isV4(i.address) === v4);
    if (!ip) continue;
    const c: IPConfig020 = { ip: ip.address };
    if (ip.gateway) c.gateway = ip.gateway;
    const routes = (r.routes ?? []).filter((rt) => isV4(rt.dst) === v4).map((rt) => (rt.gw ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst }));
    if (routes.length) c.routes = routes;
    out[key] = c;
  }
  out.dns = { ...r.dns };
  return out;
}

/** The wire form of `r` for `version` (0.1.0 … 1.1.0). */
export function convertResult(r: Result, version: string): Record<string, unknown> {
  assertSupported(version);
  if (isV02(version)) return toV02(r, version);
  const legacy = compareVersions(version, '1.0.0') < 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i) => {
      if (!legacy) return { ...i };
      const o: Interface = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (i.sandbox) o.sandbox = i.sandbox;
      return o;
    });
  }
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) => {
      const o: Record<string, unknown> = {};
      if (legacy) o.version = isV4(ip.address) ? '4' : '6';
      if (ip.interface !== undefined) o.interface = ip.interface;
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (r.routes?.length) out.routes = r.routes.map((rt) => ({ ...rt }));
  if (r.dns && Object.values(r.dns).some((v) => (Array.isArray(v) ? v.length > 0 : Boolean(v)))) out.dns = { ...r.dns };
  return out;
}

function bad(what: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, `failed to decode result: ${what}`);
}

/** Reads a result of any supported version (missing cniVersion = `assumed`) into the 1.1.0 shape. */
export function toCurrent(raw: unknown, assumed: string): Result {
  if (!isObject(raw)) throw bad('not a JSON object');
  const version = raw.cniVersion === undefined ? assumed : raw.cniVersion;
  if (typeof version !== 'string') throw bad('cniVersion must be a string');
  if (!isSupported(version)) throw new CniError(ErrorCode.IncompatibleCniVersion, `unsupported CNI result version "${version}"`);
  const r: Result = { cniVersion: CURRENT_VERSION };
  if (isV02(version)) return fromV02(raw, r);
  if (raw.interfaces !== undefined) {
    if (!Array.isArray(raw.interfaces)) throw bad('interfaces must be a list');
    r.interfaces = raw.interfaces.map((i, n) => {
      if (!isObject(i) || typeof i.name !== 'string') throw bad(`interfaces[${n}] needs a name`);
      const o: Interface = { name: i.name };
      for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) if (typeof i[k] === 'string' && i[k]) o[k] = i[k] as string;
      if (typeof i.mtu === 'number' && i.mtu > 0) o.mtu = i.mtu;
      return o;
    });
  }
  if (raw.ips !== undefined) {
    if (!Array.isArray(raw.ips)) throw bad('ips must be a list');
    r.ips = raw.ips.map((ip, n) => {
      if (!isObject(ip) || typeof ip.address !== 'string' || !ip.address.includes('/')) throw bad(`ips[${n}].address must be a CIDR`);
      const o: IPConfig = { address: ip.address };
      if (typeof ip.interface === 'number') o.interface = ip.interface;
      if (typeof ip.gateway === 'string' && ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (raw.routes !== undefined) {
    if (!Array.isArray(raw.routes)) throw bad('routes must be a list');
    r.routes = raw.routes.map((rt, n) => {
      if (!isObject(rt) || typeof rt.dst !== 'string') throw bad(`routes[${n}].dst must be a CIDR`);
      const o: Route = { dst: rt.dst };
      if (typeof rt.gw === 'string' && rt.gw) o.gw = rt.gw;
      for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (typeof rt[k] === 'number') o[k] = rt[k] as number;
      return o;
    });
  }
  if (isObject(raw.dns)) r.dns = raw.dns as Result['dns'];
  return r;
}

/** A 0.1.0/0.2.0 result (`ip4`, `ip6`, each with its routes), read into the current shape. */
function fromV02(raw: Record<string, unknown>, r: Result): Result {
  for (const key of ['ip4', 'ip6'] as const) {
    const c = raw[key];
    if (c === undefined || c === null) continue;
    if (!isObject(c) || typeof c.ip !== 'string' || !c.ip.includes('/')) throw bad(`${key}.ip must be a CIDR`);
    const ip: IPConfig = { address: c.ip };
    if (typeof c.gateway === 'string' && c.gateway) ip.gateway = c.gateway;
    (r.ips ??= []).push(ip);
    if (c.routes === undefined || c.routes === null) continue;
    if (!Array.isArray(c.routes)) throw bad(`${key}.routes must be a list`);
    for (const [n, rt] of c.routes.entries()) {
      if (!isObject(rt) || typeof rt.dst !== 'string') throw bad(`${key}.routes[${n}].dst must be a CIDR`);
      (r.routes ??= []).push(typeof rt.gw === 'string' && rt.gw ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst });
    }
  }
  if (isObject(raw.dns)) r.dns = raw.dns as Result['dns'];
  return r;
}
