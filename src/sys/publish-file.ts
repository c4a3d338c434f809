// Publishes a file into a directory that a container runtime watches
// (containerd's CNI conf dir, fsnotify): only the finished file ever appears
// there. Only the agent (Bun) uses it; the CNI binaries never write a conflist.
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where publishFile stages a file: inside the watched directory (so on its filesystem), a directory no CNI loader reads. */
export const STAGING_DIR = '.flatnet-staging';

/** Opens `tmp` for writing, new (O_EXCL); a leftover under that name (of a killed writer with our pid, or a planted link) is removed first, never followed. */
function createExclusive(tmp: string, mode: number): number {
  try {
    return openSync(tmp, 'wx', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    unlinkSync(tmp);
    return openSync(tmp, 'wx', mode);
  }
}

/** STAGING_DIR in `dir`, made once and kept; a file or symlink planted under that name is removed, never followed. */
function stagingDir(dir: string): string {
  const staging = join(dir, STAGING_DIR);
  mkdirSync(dir, { recursive: true });
  try {
    if (!lstatSync(staging).isDirectory()) unlinkSync(staging);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    mkdirSync(staging, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return staging;
}

/**
 * Writes `content` as dir/name, atomically (readers see the old file or the
 * new one, whole), without a temporary name ever appearing in `dir`:
 * containerd reloaded on a temp file's WRITE and logged "failed to reload cni
 * configuration" while the directory held no conflist yet. The file is
 * written in STAGING_DIR (libcni skips directories; containerd ignores its
 * creation) and renamed into place. A rename into the directory is a Create
 * to fsnotify, which containerd ignores (it reloads on Write, Remove and
 * Rename), so the file's size is then set again through the still-open fd
 * (ftruncate to its length: an IN_MODIFY of the final name, content
 * unchanged, and never of a file someone else put there meanwhile).
 */
export function publishFile(dir: string, name: string, content: string, mode = 0o644): void {
  const tmp = join(stagingDir(dir), `${name}.tmp-${process.pid}`);
  const data = Buffer.from(content);
  const fd = createExclusive(tmp, mode);
  try {
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
      renameSync(tmp, join(dir, name));
    } catch (e) {
      unlinkSync(tmp);
      throw e;
    }
    ftruncateSync(fd, data.length);
  } finally {
    closeSync(fd);
  }
}
