// An append-only log file of short JSON lines, bounded in size: when it grows
// past maxBytes it is rotated (cni.log -> cni.log.1 -> … cni.log.N) under an
// flock, so concurrent plugin processes rotate it once. Writing a log line
// never fails the caller: a log that cannot be written is skipped.
import { closeSync, constants as fsc, mkdirSync, openSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { platform } from '../platform/index.ts';

export interface LogFile {
  path: string;
  maxBytes: number;
  backups: number;
}

function rotate(f: LogFile): void {
  const fd = openSync(f.path, fsc.O_RDONLY);
  try {
    platform.flock(fd, 'exclusive');
    // Another process may have rotated it while we waited for the lock.
    if (statSync(f.path).size <= f.maxBytes) return;
    for (let i = f.backups - 1; i >= 1; i--) {
      try {
        renameSync(`${f.path}.${i}`, `${f.path}.${i + 1}`);
      } catch {
        // no such backup yet
      }
    }
    renameSync(f.path, `${f.path}.1`);
  } finally {
    closeSync(fd); // drops the lock
  }
}

export function appendLogLine(f: LogFile, line: string): void {
  try {
    try {
      writeFileSync(f.path, line, { flag: 'a', mode: 0o640 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(f.path), { recursive: true, mode: 0o750 });
      writeFileSync(f.path, line, { flag: 'a', mode: 0o640 });
    }
    if (f.backups > 0 && statSync(f.path).size > f.maxBytes) rotate(f);
  } catch {
    // a full or read-only /var/log must not fail a pod's network setup
  }
}
