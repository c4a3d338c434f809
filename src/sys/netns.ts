// Checks that a CNI_NETNS path really is a network namespace before anything
// is done with it (Go: "unknown FS magic").
import { statfsSync } from 'node:fs';
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
