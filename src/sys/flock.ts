// flock(2) on a file descriptor. Node has no flock; the shipped binaries run
// on Bun, whose FFI calls libc's flock directly. flock is what Go host-local
// uses on <dataDir>/<net>/lock, so both implementations exclude each other on
// a shared dataDir, and the kernel drops the lock when its holder dies: a
// plugin killed mid-ADD cannot wedge the node.
import { createRequire } from 'node:module';

const LOCK_EX = 2;
const LOCK_UN = 8;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | null | undefined;

function load(): FlockFn | null {
  if (flockFn !== undefined) return flockFn;
  flockFn = null;
  if (process.versions.bun) {
    const { dlopen, FFIType } = createRequire(import.meta.url)('bun:ffi') as typeof import('bun:ffi');
    for (const lib of ['libc.so.6', 'libc.so']) {
      try {
        const l = dlopen(lib, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
        flockFn = l.symbols.flock as FlockFn;
        break;
      } catch {
        // try the next name
      }
    }
  }
  return flockFn;
}

/** True when cross-process locking is real (Bun); under Node only one process may use a store. */
export const hasFlock = (): boolean => load() !== null;

export function flockExclusive(fd: number): void {
  const f = load();
  if (f && f(fd, LOCK_EX) !== 0) throw new Error('flock(LOCK_EX) failed on the IPAM store lock');
}

export function flockRelease(fd: number): void {
  const f = load();
  if (f) f(fd, LOCK_UN);
}
