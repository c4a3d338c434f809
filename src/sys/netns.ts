// Network namespaces held open by fd. A CNI_NETNS path is opened once, checked
// to be a namespace, and from then on used only through that fd: `ip` reaches
// it as /proc/<pid>/fd/<n> and this process enters it with setns(2). A path
// is never resolved twice, so a relative or swapped path cannot point two
// steps of one ADD at two different pods.
import { closeSync, openSync, statfsSync, statSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors.ts';
import { InvalidInputError } from '../input-error.ts';
import { platform } from '../platform/index.ts';
import type { Netns } from './kernel.ts';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

const isNsFs = (type: number): boolean => type === NSFS_MAGIC || type === PROC_SUPER_MAGIC;
const notNetns = (path: string, why: string): InvalidInputError =>
  new InvalidInputError(`CNI_NETNS ${JSON.stringify(path)} is not a network namespace (${why})`, 'pass a path such as /var/run/netns/NAME or /proc/PID/ns/net');

/** An empty regular file: what a netns mount point is once its namespace is unmounted. */
function isEmptyFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && st.size === 0;
  } catch {
    return false;
  }
}

/** Opens the namespace at `path`; undefined when nothing is there; throws when it is not a namespace. */
export function openNetns(path: string, o: { unmountedIsGone?: boolean } = {}): Netns | undefined {
  if (path.includes('\0')) throw new InvalidInputError('CNI_NETNS contains a NUL character');
  // The path's filesystem before anything opens it, as Go's ns.GetNS does:
  // opening a FIFO blocks for ever, and opening a device can act on it.
  try {
    const type = Number(statfsSync(path).type);
    if (!isNsFs(type)) {
      if (o.unmountedIsGone && isEmptyFile(path)) return undefined;
      throw notNetns(path, `filesystem magic 0x${type.toString(16)}`);
    }
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidInputError(`CNI_NETNS ${JSON.stringify(path)} cannot be opened: ${(e as Error).message}`);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new InvalidInputError(`CNI_NETNS ${JSON.stringify(path)} cannot be opened: ${(e as Error).message}`);
  }
  let type: number;
  try {
    // The fd, not the path: what is checked is what will be used.
    type = Number(statfsSync(`/proc/self/fd/${fd}`).type);
  } catch (e) {
    closeSync(fd);
    throw new InvalidInputError(`CNI_NETNS ${JSON.stringify(path)} cannot be checked: ${(e as Error).message}`);
  }
  if (!isNsFs(type)) {
    closeSync(fd);
    throw notNetns(path, `filesystem magic 0x${type.toString(16)}`);
  }
  const ns = { path, fd };
  // nsfs holds every kind of namespace; only setns(CLONE_NEWNET) tells a
  // network namespace from a UTS or mount one, before the IPAM hands out an address.
  try {
    inNetns(ns, () => undefined);
  } catch {
    closeSync(fd);
    throw notNetns(path, 'another kind of namespace: setns(CLONE_NEWNET) refuses it');
  }
  return ns;
}

/** True when `path` is the namespace this process runs in; false when it is another or does not exist. */
export function isOwnNetns(path: string): boolean {
  let target;
  try {
    target = statSync(path);
  } catch {
    return false;
  }
  const own = statSync('/proc/self/ns/net');
  return target.ino === own.ino && target.dev === own.dev;
}

export function closeNetns(ns: Netns): void {
  closeSync(ns.fd);
}

let home: number | undefined;

/**
 * Runs `fn` with this thread inside `ns` and returns its value. `fn` must be
 * synchronous: files opened and processes started from this thread meanwhile
 * belong to that namespace, which writes the pod's sysctls and runs its `ip`
 * batch without an nsenter process.
 */
export function inNetns<T>(ns: Netns, fn: () => T): T {
  home ??= openSync('/proc/thread-self/ns/net', 'r');
  platform.setNetns(ns.fd);
  try {
    return fn();
  } finally {
    returnHome(home, ns);
  }
}

/**
 * Back to the host's namespace, or the process ends here. Staying in the
 * pod's namespace would point every later step at the pod: an undo would
 * delete the pod's links by the host's names, the IPAM would write through
 * the pod's view. A throw would run exactly those catch and finally blocks,
 * so nothing more runs: the runtime gets the error object (as Go's ns.Do,
 * which abandons the thread) and the exit status 1.
 */
function returnHome(fd: number, ns: Netns): void {
  try {
    platform.setNetns(fd);
  } catch (e) {
    const error = new CniError(ErrorCode.Internal, `cannot return to the host network namespace after entering ${ns.path}: ${(e as Error).message}`, 'the plugin stopped there, before doing anything in the wrong namespace; the runtime retries or sends DEL');
    process.stderr.write(`flatnet: ${error.message}\n`);
    process.stdout.write(JSON.stringify(error, null, 4));
    process.exit(1);
  }
}
