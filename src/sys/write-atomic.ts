// Replaces a file atomically: readers see the old content or the new, never a
// torn one. The temp name starts with a dot and ends in .tmp-<pid>, so neither
// CNI runtimes (which read *.conf, *.conflist, *.json) nor readers pick it up.
// It is created with O_EXCL: a file or symlink planted under that name is
// removed (never followed) and the create retried once.
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, content, { mode, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    unlinkSync(tmp); // a leftover of a killed writer with our pid, or a planted link
    writeFileSync(tmp, content, { mode, flag: 'wx' });
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}
