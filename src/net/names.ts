// Typed values for what the kernel names: interface names and MAC addresses.
// Everything from outside (CNI_IFNAME, "bridge", a MAC in runtimeConfig) is
// parsed into one of these at the boundary; the `ip` printer accepts nothing
// else, so no runtime-supplied text reaches a command unchecked.
import { CniError, ErrorCode } from '../cni/errors.ts';

export type IfName = string & { readonly __brand: 'IfName' };
export type Mac = string & { readonly __brand: 'Mac' };

/** UTF-8 byte length of a string (what the kernel and Go count), without Buffer. */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Why `s` is not a usable interface name, or undefined when it is. */
export function ifNameProblem(s: string): { msg: string; details: string } | undefined {
  if (s === '') return { msg: 'interface name is empty', details: '' };
  // The kernel's dev_valid_name: at most IFNAMSIZ-1 bytes, not . or .., no '/', ':' or whitespace.
  if (utf8Length(s) > 15) return { msg: 'interface name is too long', details: 'interface name should be less than 16 characters' };
  if (s === '.' || s === '..') return { msg: 'interface name is . or ..', details: '' };
  if (/[/:\s]/.test(s)) return { msg: 'interface name contains / or : or whitespace characters', details: '' };
  if (s.includes('\0')) return { msg: 'interface name contains a NUL character', details: '' };
  // What the kernel allows but `ip -batch` cannot carry: '#' starts a comment
  // there, and a word can be quoted with " or ' but not both.
  if (s.includes('#') || (s.includes('"') && s.includes("'"))) {
    return { msg: `interface name ${JSON.stringify(s)} contains '#' or both kinds of quote`, details: 'flatnet configures links through ip -batch, which cannot carry these characters; use letters, digits, "-", "_" or "."' };
  }
  return undefined;
}

/** Parses an interface name; `what` names the field in the error (CNI_IFNAME, bridge). */
export function parseIfName(s: string, what = 'CNI_IFNAME'): IfName {
  const p = ifNameProblem(s);
  if (p) throw new CniError(what === 'CNI_IFNAME' ? ErrorCode.InvalidEnvironmentVariables : ErrorCode.InvalidNetworkConfig, what === 'CNI_IFNAME' ? p.msg : `${what} ${JSON.stringify(s)}: ${p.msg}`, p.details);
  return s as IfName;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function parseMac(s: string, what: string): Mac {
  if (!MAC_RE.test(s)) throw new CniError(ErrorCode.InvalidNetworkConfig, `${what}: invalid MAC address ${JSON.stringify(s)}`, 'use the form c2:11:22:33:44:55');
  if ((parseInt(s.slice(0, 2), 16) & 1) === 1) throw new CniError(ErrorCode.InvalidNetworkConfig, `${what}: MAC address ${s} is a multicast address`, 'the first octet must be even');
  return s.toLowerCase() as Mac;
}

const hex = (b: Uint8Array, sep = ''): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(sep);

/** A random locally administered unicast MAC, as the kernel would pick. */
export function randomMac(rand: (n: number) => Uint8Array): Mac {
  const b = rand(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return hex(b, ':') as Mac;
}

export const randomVethName = (rand: (n: number) => Uint8Array): IfName => `veth${hex(rand(4))}` as IfName;
