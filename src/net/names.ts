// Typed values for what the kernel names: interface names and MAC addresses.
// Everything from outside (CNI_IFNAME, "bridge", a MAC in runtimeConfig) is
// parsed into one of these at the boundary; the `ip` printer accepts nothing
// else, so no runtime-supplied text reaches a command unchecked.
import { InvalidInputError } from '../input-error.ts';

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

/** True when a UTF-8 continuation byte of `s` is 0xA0 (payload 0x20 in any 6-bit group after the lead byte). */
function hasNbspByte(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) continue;
    if ((c & 0x3f) === 0x20 || (c >= 0x800 && ((c >> 6) & 0x3f) === 0x20) || (c >= 0x10000 && ((c >> 12) & 0x3f) === 0x20)) return true;
  }
  return false;
}

/** Why `s` is not a usable interface name, or undefined when it is. */
export function ifNameProblem(s: string): { msg: string; details: string } | undefined {
  if (s === '') return { msg: 'interface name is empty', details: '' };
  // The kernel's dev_valid_name: at most IFNAMSIZ-1 bytes, not . or .., no '/', ':' or whitespace.
  if (utf8Length(s) > 15) return { msg: 'interface name is too long', details: 'interface name should be less than 16 characters' };
  if (s === '.' || s === '..') return { msg: 'interface name is . or ..', details: '' };
  if (/[/:\s]/.test(s)) return { msg: 'interface name contains / or : or whitespace characters', details: '' };
  // A '%' makes the kernel read the name as a template: "eth%d" becomes eth0 (or
  // eth1, …), a link by another name than every later step asks for; any other
  // '%' it refuses. "all" and "default" are its per-family sysctl directories.
  if (s.includes('%')) return { msg: `interface name ${JSON.stringify(s)} contains '%', which the kernel reads as a name template (eth%d becomes eth0)`, details: 'use letters, digits, "-", "_" or "."' };
  if (s === 'all' || s === 'default') return { msg: `interface name ${JSON.stringify(s)} is reserved by the kernel (net/ipv4/conf/${s})`, details: '' };
  // JSON can spell one (\udfff); Go reads it as U+FFFD, the kernel would get bytes that are not UTF-8.
  if (/[\ud800-\udfff]/u.test(s)) return { msg: `interface name ${JSON.stringify(s)} holds a lone surrogate, which is no character`, details: '' };
  // The kernel tests each byte with its own isspace(), which takes 0xA0 (Latin-1
  // NBSP) for a space: a character whose UTF-8 holds that byte ("à" is C3 A0) fails
  // at the kernel with EINVAL, after the IPAM and the bridge are done.
  if (hasNbspByte(s)) return { msg: 'interface name contains a character whose UTF-8 bytes the kernel reads as a space (byte 0xA0, as in "à")', details: 'use letters, digits, "-", "_" or "."' };
  if (s.includes('\0')) return { msg: 'interface name contains a NUL character', details: '' };
  // What the kernel allows but `ip -batch` cannot carry: '#' starts a comment
  // there, and a word can be quoted with " or ' but not both.
  if (s.includes('#') || (s.includes('"') && s.includes("'"))) {
    return { msg: `interface name ${JSON.stringify(s)} contains '#' or both kinds of quote`, details: 'flatnet configures links through ip -batch, which cannot carry these characters; use letters, digits, "-", "_" or "."' };
  }
  return undefined;
}

/** A name or MAC address the kernel or `ip -batch` would refuse. */
export class InvalidNameError extends InvalidInputError {}

/** Parses an interface name; `what` names the field in the message (bridge), none for CNI_IFNAME. */
export function parseIfName(s: string, what?: string): IfName {
  const p = ifNameProblem(s);
  if (p) throw new InvalidNameError(what === undefined ? p.msg : `${what} ${JSON.stringify(s)}: ${p.msg}`, p.details);
  return s as IfName;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function parseMac(s: string, what: string): Mac {
  if (!MAC_RE.test(s)) throw new InvalidNameError(`${what}: invalid MAC address ${JSON.stringify(s)}`, 'use the form c2:11:22:33:44:55');
  if ((parseInt(s.slice(0, 2), 16) & 1) === 1) throw new InvalidNameError(`${what}: MAC address ${s} is a multicast address`, 'the first octet must be even');
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
