// sysctls of the namespace this process runs in, written through /proc/sys
// directly: no process needed.
import { readFileSync, writeFileSync } from 'node:fs';

/** Sets key (slash form, e.g. net/ipv4/ip_forward) unless already equal; false when the key does not exist. */
export function ensureSysctl(key: string, value: string): boolean {
  const path = `/proc/sys/${key}`;
  try {
    if (readFileSync(path, 'utf8').trim() === value) return true;
    writeFileSync(path, value);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
