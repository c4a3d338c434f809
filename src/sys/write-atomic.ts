// Replaces a file atomically: readers see the old content or the new, never a
// torn one. The temp name starts with a dot and ends in .tmp-<pid>, so neither
// CNI runtimes (which read *.conf, *.conflist, *.json) nor readers pick it up.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}
