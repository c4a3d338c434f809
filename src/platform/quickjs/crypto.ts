// node:crypto for the CNI binaries: random bytes from getrandom(2), SHA-512
// (Go's masquerade chain names hash net name + container ID with it) from
// @noble/hashes, an audited pure-JS implementation.
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import * as sys from 'flatnet_sys';

export const randomBytes = (n: number): Uint8Array => new Uint8Array(sys.randomBytes(n));

export function createHash(algorithm: string): { update(s: string): { digest(enc: 'hex'): string } } {
  if (algorithm !== 'sha512') throw new Error(`createHash: only sha512 is built in, not ${algorithm}`);
  return {
    update: (s: string) => ({ digest: () => bytesToHex(sha512(new Uint8Array(sys.utf8(s)))) }),
  };
}
