// The image archive of scripts/image.sh, built once per content of what goes
// into it (the three binaries and the script) and kept under
// node_modules/.cache/flatnet/image/, so tests that run the image do not pay
// for debootstrap (about a minute) every time. The archive is exactly what
// `scripts/image.sh -o FILE` writes; the cache only decides whether to run it.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN_DIR, ROOT } from './plugin.ts';

const CACHE = join(ROOT, 'node_modules', '.cache', 'flatnet', 'image');
const INPUTS = [join(ROOT, 'scripts', 'image.sh'), ...['flatnet', 'flatnet-ipam', 'flatnet-cli'].map((b) => join(BIN_DIR, b))];

async function inputsKey(): Promise<string> {
  const h = createHash('sha256');
  for (const f of INPUTS) {
    h.update(`${f}\0`);
    for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  }
  return h.digest('hex').slice(0, 16);
}

export interface ImageArchive {
  path: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
  /** Seconds spent building or hashing. */
  seconds: number;
}

/** The docker-archive for the current dist/bin, building it when the cache has none. */
export async function flatnetImageArchive(): Promise<ImageArchive> {
  const t0 = performance.now();
  const key = await inputsKey();
  const path = join(CACHE, `flatnet-image-${key}.tar`);
  if (existsSync(path)) return { path, built: false, seconds: (performance.now() - t0) / 1000 };
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const r = await execa('bash', [join(ROOT, 'scripts', 'image.sh'), '-o', tmp], { reject: false, all: true });
  if (r.exitCode !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`scripts/image.sh failed (${r.exitCode}):\n${r.all}`);
  }
  // Archives of older binaries are never read again.
  for (const f of readdirSync(CACHE)) if (f.endsWith('.tar') && join(CACHE, f) !== path) rmSync(join(CACHE, f), { force: true });
  renameSync(tmp, path);
  return { path, built: true, seconds: (performance.now() - t0) / 1000 };
}
