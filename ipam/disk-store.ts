// The on-disk store, byte-compatible with Go host-local's backend/disk:
//   <dataDir>/<network>/<ip>                "<containerID>\r\n<ifname>", 0600
//   <dataDir>/<network>/last_reserved_ip.N  the last address handed out from range set N
//   <dataDir>/<network>/lock                flock(2)ed around every mutation
// Where Go writes in place, we write the record first and link(2)/rename(2) it
// into place, so a process killed mid-write never leaves an empty or torn
// record. A lease record is written unnamed (O_TMPFILE) where the platform
// can: a process killed before naming it leaves no file at all (Go's CHECK
// reads every file of the directory, names aside, and would take a named
// temp file with a record in it for a lease).
// The lock is held as briefly as we can: a pod's record is written before it
// is taken (a reservation inside is then one link(2) per address, all to that
// same file) and the round-robin hint after it is released. With 110 pods
// starting at once, the holder competing for CPU with their `ip` processes
// stretched a long critical section into a convoy (median 0.6 s of waiting).
import { closeSync, constants as fsc, fstatSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Addr, formatIp, parseIp } from '../src/net/cidr.ts';
import { platform } from '../src/platform/index.ts';
import { flockExclusive, flockRelease } from '../src/sys/flock.ts';
import type { Allocation, Store } from './store.ts';

const LAST_PREFIX = 'last_reserved_ip.';
// Go host-local's modes: leases and last_reserved_ip readable by all (tools
// and agents read the store without root), the lock 0750; the umask applies.
const RECORD_MODE = 0o644;
const LOCK_MODE = 0o750;
const TMP_PREFIX = '.flatnet-tmp.';
// What an address can be named: checked before anything is parsed.
const LEASE_NAME = /^[0-9a-fA-F.:]+$/;
// A record is an ID (at most 253 bytes here, unbounded in Go) and an ifname.
const RECORD_MAX = 64 * 1024;

export function parseRecord(content: string): { containerId: string; ifName: string } {
  const trimmed = content.trim();
  const nl = trimmed.indexOf('\r\n');
  return nl < 0 ? { containerId: trimmed, ifName: '' } : { containerId: trimmed.slice(0, nl).trim(), ifName: trimmed.slice(nl + 2).trim() };
}

export const formatRecord = (id: string, ifName: string): string => `${id.trim()}\r\n${ifName}`;

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * A temp file's writer is alive while it holds the flock on the file, which
 * it takes right after creating it and keeps until it is done (writeTemp).
 * Pids cannot tell: the DaemonSet's `flatnet ipam gc` runs without the host's
 * pid namespace, where every host pid looks dead. A writer that created its
 * file but lost the race for the lock to a sweeper finds its name gone once
 * it has the lock, and starts over under another name.
 */
function tempAbandoned(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false; // gone already
  }
  try {
    return platform.flockWithin(fd, 0);
  } finally {
    closeSync(fd);
  }
}

export class DiskStore implements Store {
  readonly dir: string;
  private lockFd: number | undefined;
  /** The record of the owner being allocated for, written before the lock: open unnamed (fd) or as a temp file. */
  private pending: { owner: string; fd?: number; tmp?: string; tmpFd?: number } | undefined;
  /** Round-robin hints to write once the lock is released. */
  private readonly hints = new Map<number, Addr>();

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  lock(owner?: { id: string; ifName: string }): void {
    if (this.lockFd !== undefined) return;
    if (owner) this.pendingRecord(owner.id, owner.ifName);
    // Read-only suffices for flock, as in Go, which creates it 0750 (all modes here are Go host-local's, umask applied).
    this.lockFd = openSync(join(this.dir, 'lock'), fsc.O_RDONLY | fsc.O_CREAT, LOCK_MODE);
    flockExclusive(this.lockFd);
  }

  unlock(): void {
    if (this.lockFd === undefined) return;
    flockRelease(this.lockFd);
    closeSync(this.lockFd);
    this.lockFd = undefined;
    // Only hints: a stale one makes the next allocation skip a taken address or two.
    for (const [rangeId, ip] of this.hints) {
      try {
        const { tmp, fd } = this.writeTemp(formatIp(ip));
        try {
          renameSync(tmp, join(this.dir, `${LAST_PREFIX}${rangeId}`));
        } catch (e) {
          unlinkQuietly(tmp);
          throw e;
        } finally {
          closeSync(fd);
        }
      } catch {
        // the next allocation starts from an older point, as Go does on error
      }
    }
    this.hints.clear();
    this.dropPending();
  }

  private dropPending(): void {
    if (this.pending?.fd !== undefined) closeSync(this.pending.fd);
    if (this.pending?.tmp !== undefined) unlinkQuietly(this.pending.tmp);
    if (this.pending?.tmpFd !== undefined) closeSync(this.pending.tmpFd);
    this.pending = undefined;
  }

  /** The record of (id, ifName), written once per allocation. */
  private pendingRecord(id: string, ifName: string): NonNullable<DiskStore['pending']> {
    const owner = formatRecord(id, ifName);
    if (this.pending?.owner !== owner) {
      this.dropPending();
      const fd = platform.unnamedFile(this.dir, owner, RECORD_MODE);
      if (fd !== undefined) this.pending = { owner, fd };
      else {
        const { tmp, fd: tmpFd } = this.writeTemp(owner);
        this.pending = { owner, tmp, tmpFd };
      }
    }
    return this.pending;
  }

  // Temp files of processes that died mid-write (kill -9), swept only under
  // the lock and never our own pending one. Names carry a random part, so a
  // live process never reuses one that is being swept.
  private sweepTemps(names: string[]): void {
    if (this.lockFd === undefined) return;
    for (const name of names) {
      const path = join(this.dir, name);
      if (path !== this.pending?.tmp && tempAbandoned(path)) unlinkQuietly(path);
    }
  }

  /** A temp file holding content, made and flock'ed by this process (see tempAbandoned); close fd when done with it. */
  private writeTemp(content: string): { tmp: string; fd: number } {
    for (;;) {
      const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}.${Math.random().toString(36).slice(2)}`);
      let fd: number;
      try {
        // O_EXCL: whatever sits under this name is never followed.
        fd = openSync(tmp, 'wx', RECORD_MODE);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      try {
        flockExclusive(fd);
        // A sweeper took the lock first and removed the name: start over under another.
        const mine = fstatSync(fd);
        let named: { ino: number; dev: number } | undefined;
        try {
          named = statSync(tmp);
        } catch {
          named = undefined;
        }
        if (!named || named.ino !== mine.ino || named.dev !== mine.dev) {
          closeSync(fd);
          continue;
        }
        writeSync(fd, content);
        return { tmp, fd };
      } catch (e) {
        // A full disk creates the file and then fails the write: leave nothing.
        closeSync(fd);
        unlinkQuietly(tmp);
        throw e;
      }
    }
  }

  reserve(id: string, ifName: string, ip: Addr, rangeId: number): boolean {
    try {
      // link(2) fails with EEXIST atomically, like Go's O_CREAT|O_EXCL, but the
      // file appears with its full content. Every address of one ADD links to
      // the same record file.
      const rec = this.pendingRecord(id, ifName);
      const to = join(this.dir, formatIp(ip));
      if (rec.fd !== undefined) platform.linkUnnamed(rec.fd, to);
      else linkSync(rec.tmp!, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    this.hints.set(rangeId, ip);
    return true;
  }

  lastReservedIp(rangeId: number): Addr | undefined {
    try {
      return parseIp(readFileSync(join(this.dir, `${LAST_PREFIX}${rangeId}`), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /**
   * The store's records as (name, owner), without parsing addresses: one C
   * call reads the whole directory. Only regular files count: a directory or
   * symlink named like an IP is foreign (it still blocks that IP, as link(2)
   * fails on it, but is no lease).
   */
  private records(): Array<{ name: string; containerId: string; ifName: string; damage?: Allocation['damage'] }> {
    const out: Array<{ name: string; containerId: string; ifName: string; damage?: Allocation['damage'] }> = [];
    const temps: string[] = [];
    for (const f of platform.readDirFiles(this.dir, RECORD_MAX)) {
      if (f.name.startsWith(TMP_PREFIX)) temps.push(f.name);
      if (!LEASE_NAME.test(f.name)) continue; // the lock, round-robin state, temp files, anything foreign
      // A record that names no owner still takes its address: listed, so that
      // ls shows it and GC can release it (no DEL ever will).
      if ('error' in f) {
        const damage = f.error === 'EFBIG' ? { kind: 'too large' as const, detail: `${RECORD_MAX / 1024} KiB` } : { kind: 'unreadable' as const, detail: f.error };
        out.push({ name: f.name, containerId: '', ifName: '', damage });
        continue;
      }
      const rec = parseRecord(f.content);
      out.push(rec.containerId === '' ? { name: f.name, containerId: '', ifName: '', damage: { kind: 'empty', detail: '' } } : { name: f.name, ...rec });
    }
    // Under the lock (GC), what killed writers left goes too, as on ADD.
    this.sweepTemps(temps);
    return out;
  }

  /** The lease a file name stands for; none when the name is not a canonical address (a foreign file). */
  private lease(name: string, containerId: string, ifName: string, damage?: Allocation['damage']): Allocation[] {
    const ip = LEASE_NAME.test(name) ? parseIp(name) : undefined;
    return ip && formatIp(ip) === name ? [{ ip, containerId, ifName, ...(damage ? { damage } : {}) }] : [];
  }

  /** Every lease, damaged records (no owner) among them. */
  list(): Allocation[] {
    return this.records().flatMap((r) => this.lease(r.name, r.containerId, r.ifName, r.damage));
  }

  /**
   * Go's GetByID: files whose whole content, trimmed, is "<id>\r\n<ifname>",
   * else legacy ones holding "<id>" alone. Every ADD asks (the duplicate
   * check), inside the lock, from one listing of the store (one C call), which
   * also finds what killed writers left.
   */
  findByOwner(id: string, ifName: string): Allocation[] {
    const want = formatRecord(id, ifName).trim();
    const wantLegacy = id.trim();
    const exact: string[] = [];
    const legacy: string[] = [];
    const temps: string[] = [];
    for (const f of platform.readDirFiles(this.dir, RECORD_MAX)) {
      if (f.name.startsWith(TMP_PREFIX)) temps.push(f.name);
      else if ('content' in f) {
        const content = f.content.trim();
        if (content === want) exact.push(f.name);
        else if (content === wantLegacy) legacy.push(f.name);
      }
    }
    this.sweepTemps(temps);
    return exact.length ? exact.flatMap((n) => this.lease(n, id, ifName)) : legacy.flatMap((n) => this.lease(n, id, ''));
  }

  release(ip: Addr): void {
    try {
      unlinkSync(join(this.dir, formatIp(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
