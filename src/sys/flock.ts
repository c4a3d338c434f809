// flock(2) on a file descriptor. It is what Go host-local uses on
// <dataDir>/<net>/lock, so both implementations exclude each other on a shared
// dataDir, and the kernel drops the lock when its holder dies: a plugin killed
// mid-ADD cannot wedge the node.
import { platform } from '../platform/index.ts';

export const flockExclusive = (fd: number): void => platform.flock(fd, 'exclusive');
export const flockRelease = (fd: number): void => platform.flock(fd, 'unlock');
