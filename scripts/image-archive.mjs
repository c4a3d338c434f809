// The image archive of scripts/image.sh, built once per content of what goes
// into it (the three binaries and the script) and kept under
// node_modules/.cache/flatnet/image/, so the tests and the Kubernetes demo
// do not pay for debootstrap (about a minute) every time. The archive is
// exactly what `scripts/image.sh -o FILE` writes; the cache only decides
// whether to run it.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN_DIR = join(ROOT, 'dist', 'bin');
const CACHE = join(ROOT, 'node_modules', '.cache', 'flatnet', 'image');
const INPUTS = [join(ROOT, 'scripts', 'image.sh'), ...['flatnet', 'flatnet-ipam', 'flatnet-cli'].map((b) => join(BIN_DIR, b))];

async function inputsKey() {
  const h = createHash('sha256');
  for (const f of INPUTS) {
    h.update(`${f}\0`);
    for await (const chunk of createReadStream(f)) h.update(chunk);
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Runs scripts/image.sh in a process group of its own, which is ended with
 * this process: an interrupted demo leaves no debootstrap running.
 */
function runImageSh(out) {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(ROOT, 'scripts', 'image.sh'), '-o', out], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const endGroup = () => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    process.on('exit', endGroup);
    let output = '';
    child.stdout.on('data', (b) => (output += b));
    child.stderr.on('data', (b) => (output += b));
    child.on('close', (code, signal) => {
      process.off('exit', endGroup);
      resolve({ code: code ?? signal, output });
    });
  });
}

/**
 * The docker-archive for the current dist/bin, building it when the cache
 * has none: { path, built (false: from the cache), seconds }.
 */
export async function flatnetImageArchive() {
  const t0 = performance.now();
  const key = await inputsKey();
  const path = join(CACHE, `flatnet-image-${key}.tar`);
  if (existsSync(path)) return { path, built: false, seconds: (performance.now() - t0) / 1000 };
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  process.stderr.write('flatnet: building the flatnet image (scripts/image.sh: debootstrap from Debian\'s mirror, once per content of dist/bin, a minute or more) ...\n');
  const r = await runImageSh(tmp);
  if (r.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`scripts/image.sh failed (${r.code}):\n${r.output}`);
  }
  // Archives of older binaries are never read again.
  for (const f of readdirSync(CACHE)) if (f.endsWith('.tar') && join(CACHE, f) !== path) rmSync(join(CACHE, f), { force: true });
  renameSync(tmp, path);
  return { path, built: true, seconds: (performance.now() - t0) / 1000 };
}
