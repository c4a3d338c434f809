// An append-only log file of short JSON lines, bounded in size: when it grows
// past maxBytes it is rotated (cni.log -> cni.log.1 -> … cni.log.N) under an
// flock, so concurrent plugin processes rotate it once. Writing a log line
// never fails the caller: a log that cannot be written is skipped.
import { closeSync, constants as fsc, fstatSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
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

/** A log path that is not a regular file: never written, and said once on stderr. */
export class NotALogFile extends Error {}

const sameFile = (a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean => a.dev === b.dev && a.ino === b.ino;

/**
 * Opens `path` for appending, made (with its directory) when missing, only if
 * it is a regular file other than this process's stdout. A plugin's stdout is
 * its result, and "/dev/stdout" as a log put a line after the result; a FIFO
 * would block the plugin until someone read it (O_NONBLOCK: without a reader
 * the open fails with ENXIO instead), a tty or device is no log either.
 */
export function openLogFile(path: string): number {
  const flags = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NONBLOCK | fsc.O_NOCTTY;
  let fd: number;
  try {
    try {
      fd = openSync(path, flags, 0o640);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      fd = openSync(path, flags, 0o640);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENXIO') throw new NotALogFile(`log file ${path} is a FIFO or socket, not a regular file: not logging there`);
    if (code === 'EISDIR') throw new NotALogFile(`log file ${path} is a directory: not logging there`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    let out: { dev: number; ino: number } | undefined;
    try {
      out = fstatSync(1);
    } catch {
      out = undefined; // no stdout
    }
    // Even a regular file: a runtime may collect the result in one.
    if (out && sameFile(st, out)) throw new NotALogFile(`log file ${path} is this plugin's stdout, which carries only its result: not logging there`);
    if (!st.isFile()) throw new NotALogFile(`log file ${path} is not a regular file: not logging there`);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

function refused(e: NotALogFile): void {
  try {
    process.stderr.write(`flatnet: ${e.message}; set logFile to a regular file (logLevel "silent" for no log)\n`);
  } catch {
    // stderr closed: nothing else to tell
  }
}

export function appendLogLine(f: LogFile, line: string): void {
  // Discarding is what /dev/null asks for: nothing to say.
  if (f.path === '/dev/null') return;
  try {
    const fd = openLogFile(f.path);
    try {
      writeSync(fd, line);
    } finally {
      closeSync(fd);
    }
    if (f.backups > 0 && statSync(f.path).size > f.maxBytes) rotate(f);
  } catch (e) {
    if (e instanceof NotALogFile) refused(e);
    // a full or read-only /var/log must not fail a pod's network setup
  }
}
