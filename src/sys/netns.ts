// Checks that a CNI_NETNS path really is a network namespace before anything
// is done with it (Go: "unknown FS magic").
import { closeSync, openSync, statfsSync } from 'node:fs';
import { loadLibc } from './libc.ts';
import { CniError, ErrorCode } from '../cni/errors.ts';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/** 'ok', 'missing', or throws when the path exists but is no namespace. */
export function netnsState(path: string): 'ok' | 'missing' {
  let type: number;
  try {
    type = Number(statfsSync(path).type);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `CNI_NETNS ${path} cannot be opened: ${(e as Error).message}`);
  }
  if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `CNI_NETNS ${path} is not a network namespace (filesystem magic 0x${type.toString(16)})`, 'pass a path such as /var/run/netns/NAME or /proc/PID/ns/net');
  }
  return 'ok';
}

const CLONE_NEWNET = 0x40000000;

/**
 * Runs `fn` with this thread inside the network namespace at `path` (setns(2)
 * through FFI) and returns its value; undefined when FFI is unavailable and
 * the caller must use nsenter. `fn` must be synchronous: files opened and
 * processes spawned from this thread meanwhile belong to that namespace, which
 * saves an nsenter per step and writes the pod's sysctls without a process.
 */
export function inNetns<T>(path: string, fn: () => T): { value: T } | undefined {
  const libc = loadLibc();
  if (!libc) return undefined;
  const own = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(path, 'r');
  try {
    if (libc.setns(target, CLONE_NEWNET) !== 0) return undefined;
    try {
      return { value: fn() };
    } finally {
      // Staying in the pod's namespace would point every later step at the pod.
      if (libc.setns(own, CLONE_NEWNET) !== 0) throw new Error('setns back to the plugin namespace failed');
    }
  } finally {
    closeSync(target);
    closeSync(own);
  }
}
