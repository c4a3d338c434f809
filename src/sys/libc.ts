// libc calls Node lacks (flock, setns): through Bun's FFI in flatnet-cli;
// the QuickJS CNI binaries replace this module (src/platform/quickjs/libc.ts,
// compiled in). Under Node (unit tests) load() is null and callers use their
// process-based fallbacks.
import { createRequire } from 'node:module';

export interface Libc {
  flock(fd: number, op: number): number;
  setns(fd: number, nstype: number): number;
}

let libc: Libc | null | undefined;

export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (!process.versions.bun) return libc;
  const { dlopen, FFIType } = createRequire(import.meta.url)('bun:ffi') as typeof import('bun:ffi');
  for (const lib of ['libc.so.6', 'libc.so']) {
    try {
      const l = dlopen(lib, {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        setns: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      });
      libc = { flock: l.symbols.flock as Libc['flock'], setns: l.symbols.setns as Libc['setns'] };
      break;
    } catch {
      // try the next name
    }
  }
  return libc;
}
