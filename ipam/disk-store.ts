// The on-disk store, byte-compatible with Go host-local's backend/disk:
//   <dataDir>/<network>/<ip>                "<containerID>\r\n<ifname>", 0600
//   <dataDir>/<network>/last_reserved_ip.N  the last address handed out from range set N
//   <dataDir>/<network>/lock                flock(2)ed around every mutation
// Where Go writes in place, we write a temp file and link(2)/rename(2) it into
// place, so a process killed mid-write never leaves an empty or torn record.
import { closeSync, constants as fsc, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Addr, formatIp, parseIp } from '../src/net/cidr.ts';
import { platform } from '../src/platform/index.ts';
import { flockExclusive, flockRelease } from '../src/sys/flock.ts';
import { type Allocation, ownedBy, type Store } from './store.ts';

const LAST_PREFIX = 'last_reserved_ip.';
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DiskStore implements Store {
  readonly dir: string;
  private lockFd: number | undefined;
  private tmpSeq = 0;

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  lock(): void {
    if (this.lockFd !== undefined) return;
    // Read-only suffices for flock, as in Go; created 0600 like every store file.
    this.lockFd = openSync(join(this.dir, 'lock'), fsc.O_RDONLY | fsc.O_CREAT, 0o600);
    flockExclusive(this.lockFd);
    this.sweepTemps();
  }

  unlock(): void {
    if (this.lockFd === undefined) return;
    flockRelease(this.lockFd);
    closeSync(this.lockFd);
    this.lockFd = undefined;
  }

  // Temp files of processes that died mid-write (kill -9) are removed under the lock.
  private sweepTemps(): void {
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const pid = Number(name.slice(TMP_PREFIX.length).split('.')[0]);
      if (!Number.isInteger(pid) || !pidAlive(pid) || pid === process.pid) {
        try {
          unlinkSync(join(this.dir, name));
        } catch {
          // already gone
        }
      }
    }
  }

  private writeTemp(content: string): string {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}.${this.tmpSeq++}`);
    try {
      try {
        // O_EXCL: whatever sits under this name (a leftover of a killed process with our pid) is removed, never followed.
        writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        unlinkSync(tmp);
        writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
      }
    } catch (e) {
      // A full disk creates the file and then fails the write: leave nothing.
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw e;
    }
    return tmp;
  }

  reserve(id: string, ifName: string, ip: Addr, rangeId: number): boolean {
    const tmp = this.writeTemp(formatRecord(id, ifName));
    try {
      // link(2) fails with EEXIST atomically, like Go's O_CREAT|O_EXCL, but the
      // file appears with its full content.
      linkSync(tmp, join(this.dir, formatIp(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      unlinkSync(tmp);
    }
    // Round-robin state only: a failure here must not undo a good reservation.
    try {
      const last = this.writeTemp(formatIp(ip));
      renameSync(last, join(this.dir, `${LAST_PREFIX}${rangeId}`));
    } catch {
      // the next allocation starts from an older point, as Go does on error
    }
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
   * The store's records as (name, owner), without parsing addresses: every
   * ADD reads every lease (as Go does), so this is one call for the whole
   * directory and string work only. Only regular files count: a directory or
   * symlink named like an IP is foreign (it still blocks that IP, as link(2)
   * fails on it, but is no lease).
   */
  private records(): Array<{ name: string; containerId: string; ifName: string }> {
    const out: Array<{ name: string; containerId: string; ifName: string }> = [];
    for (const [name, content] of platform.readDirFiles(this.dir, RECORD_MAX)) {
      if (!LEASE_NAME.test(name)) continue; // the lock, round-robin state, temp files, anything foreign
      const rec = parseRecord(content);
      if (rec.containerId === '') continue; // empty or blank: no owner to match, never released by ID
      out.push({ name, ...rec });
    }
    return out;
  }

  private toAllocations(recs: Array<{ name: string; containerId: string; ifName: string }>): Allocation[] {
    return recs.flatMap(({ name, containerId, ifName }) => {
      const ip = parseIp(name);
      // Only canonical names are leases; anything else in the directory is foreign.
      return ip && formatIp(ip) === name ? [{ ip, containerId, ifName }] : [];
    });
  }

  list(): Allocation[] {
    return this.toAllocations(this.records());
  }

  findByOwner(id: string, ifName: string): Allocation[] {
    return this.toAllocations(ownedBy(this.records(), id, ifName));
  }

  release(ip: Addr): void {
    try {
      unlinkSync(join(this.dir, formatIp(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
