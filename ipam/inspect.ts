// The store of a network as the CLI reads it (`flatnet ipam`, `status`).
// Not part of the CNI binaries' code: it uses what only Node and Bun have.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DiskStore } from './disk-store.ts';

/** The store of network `name` under `dataDir`; undefined when nothing was ever allocated there. */
export function existingStore(dataDir: string, name: string): DiskStore | undefined {
  return existsSync(join(dataDir, name)) ? new DiskStore(dataDir, name) : undefined;
}
