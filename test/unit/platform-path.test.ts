// The QuickJS build's node:path (src/platform/quickjs/path.ts) must agree
// with Node's own POSIX path functions on every path the binaries build.
import fc from 'fast-check';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basename, dirname, join } from '../../src/platform/quickjs/path.ts';

const segment = fc.constantFrom('', '.', '..', 'a', 'bc', 'd.e', '/', '//', 'x/', '/y', 'a/../b', './c');
const parts = fc.array(segment, { minLength: 1, maxLength: 6 });
const path = parts.map((p) => p.join('/'));

describe('QuickJS path shim', () => {
  it('joins as node:path.posix does', () => {
    fc.assert(
      fc.property(parts, (p) => {
        expect(join(...p)).toBe(posix.join(...p));
      }),
      { numRuns: 3000 },
    );
  });
  it('takes dirname and basename as node:path.posix does', () => {
    fc.assert(
      fc.property(path.filter((p) => p !== ''), (p) => {
        expect(dirname(p)).toBe(posix.dirname(p));
        expect(basename(p)).toBe(posix.basename(p));
      }),
      { numRuns: 3000 },
    );
  });
});
