// flock(2) on a file descriptor. It is what Go host-local uses on
// <dataDir>/<net>/lock, so both implementations exclude each other on a shared
// dataDir, and the kernel drops the lock when its holder dies: a plugin killed
// mid-ADD cannot wedge the node.
import { loadLibc } from './libc.ts';

const LOCK_EX = 2;
const LOCK_UN = 8;

/** True when cross-process locking is real (QuickJS binaries, Bun); under Node only one process may use a store. */
export const hasFlock = (): boolean => loadLibc() !== null;

export function flockExclusive(fd: number): void {
  const l = loadLibc();
  if (l && l.flock(fd, LOCK_EX) !== 0) throw new Error('flock(LOCK_EX) failed on the IPAM store lock');
}

export function flockRelease(fd: number): void {
  loadLibc()?.flock(fd, LOCK_UN);
}
