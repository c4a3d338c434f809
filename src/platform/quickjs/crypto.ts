// node:crypto for the CNI binaries: random bytes from getrandom(2), SHA-512
// (Go's masquerade chain names hash net name + container ID with it) from
// flatnet_sys, in C: a JS implementation builds its tables at load, a cost
// every plugin run paid though only masquerade needs a hash.
import * as sys from 'flatnet_sys';

export const randomBytes = (n: number): Uint8Array => new Uint8Array(sys.randomBytes(n));

export function createHash(algorithm: string): { update(s: string): { digest(enc: 'hex'): string } } {
  if (algorithm !== 'sha512') throw new Error(`createHash: only sha512 is built in, not ${algorithm}`);
  return {
    update: (s: string) => ({ digest: () => sys.sha512Hex(s) }),
  };
}
