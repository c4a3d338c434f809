// The on-disk store, byte-compatible with Go host-local's backend/disk:
//   <dataDir>/<network>/<ip>                "<containerID>\r\n<ifname>", 0600
//   <dataDir>/<network>/last_reserved_ip.N  the last address handed out from range set N
//   <dataDir>/<network>/lock                flock(2)ed around every mutation
// Where Go writes in place, we write a temp file and link(2)/rename(2) it into
// place, so a process killed mid-write never leaves an empty or torn record.
import { closeSync, constants as fsc, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Addr, formatIp, parseIp } from '../src/net/cidr.ts';
import { flockExclusive, flockRelease } from '../src/sys/flock.ts';
import type { Allocation, Store } from './store.ts';

const LAST_PREFIX = 'last_reserved_ip.';
const TMP_PREFIX = '.flatnet-tmp.';

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

  list(): Allocation[] {
    const out: Allocation[] = [];
    for (const ent of readdirSync(this.dir, { withFileTypes: true })) {
      if (!ent.isFile()) continue; // a directory named like an IP is foreign: it still blocks that IP (link fails) but is no lease
      const ip = parseIp(ent.name);
      if (!ip || formatIp(ip) !== ent.name) continue;
      let content: string;
      try {
        content = readFileSync(join(this.dir, ent.name), 'utf8');
      } catch {
        continue; // removed under us, or unreadable: not ours to interpret
      }
      const rec = parseRecord(content);
      if (rec.containerId === '') continue; // empty or blank: no owner to match, never released by ID
      out.push({ ip, ...rec });
    }
    return out;
  }

  release(ip: Addr): void {
    try {
      unlinkSync(join(this.dir, formatIp(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
