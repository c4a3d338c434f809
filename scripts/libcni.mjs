// Finds libcni-driver (the CNI client library inside containerd and CRI-O),
// building it from Debian's Go sources with shared/tools/libcni-driver/build.sh
// the first time. Returns undefined when neither a binary nor the sources exist.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED_BUILD = join(root, '..', 'shared', 'tools', 'libcni-driver', 'build.sh');
const CACHED = join(root, 'node_modules', '.cache', 'flatnet', 'libcni-driver');

export function libcniDriver() {
  for (const p of [process.env.LIBCNI_DRIVER, '/usr/local/bin/libcni-driver', CACHED]) if (p && existsSync(p)) return p;
  if (!existsSync(SHARED_BUILD)) return undefined;
  execFileSync('bash', [SHARED_BUILD, CACHED], { stdio: ['ignore', 'ignore', 'inherit'] });
  return CACHED;
}
