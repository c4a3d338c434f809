// The xtables lock: legacy iptables takes it (flock on /run/xtables.lock, or
// XTABLES_LOCKFILE as iptables itself reads it) from before an
// iptables-restore reads a table until its commit is done.
//
// A runtime that kills an ADD whose iptables-restore waits on that lock (kube-
// proxy holds it on a busy node) must not get a DEL that reads the nat table,
// finds nothing, answers success, and is then followed by the ADD's commit.
// The plugin's children die with it (PR_SET_PDEATHSIG, see src/platform/quickjs/sys/spawn.c);
// one that already holds the lock may still be inside its commit when the
// runtime starts the DEL. Once the DEL has taken the lock itself, that commit
// is done and visible, and no child of the dead ADD can take the lock again.
import { closeSync, openSync } from 'node:fs';
import { platform } from '../platform/index.ts';

const DEFAULT_LOCK = '/run/xtables.lock';

/** Longest wait for the lock before a teardown gives up (and the runtime retries it). */
export const XTABLES_WAIT_MS = 60_000;

let settled = false;

/**
 * Returns once no iptables-restore of this node holds the xtables lock (taken
 * and released at once), at most once per run: the teardown after it reads
 * the nat table as every earlier commit left it. Throws when the lock stays
 * held for waitMs: the DEL then fails rather than answer success while a
 * commit could still land. No lock file: nothing has ever taken the lock.
 */
export function awaitXtablesSettled(waitMs = XTABLES_WAIT_MS): void {
  if (settled) return;
  const path = process.env.XTABLES_LOCKFILE || DEFAULT_LOCK;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      settled = true;
      return;
    }
    throw e;
  }
  try {
    if (!platform.flockWithin(fd, waitMs)) throw new Error(`the xtables lock ${path} stayed held for ${waitMs / 1000} s: another process is changing the firewall; retry the DEL`);
    settled = true;
  } finally {
    // Closing the only fd of this open file description releases the lock.
    closeSync(fd);
  }
}
