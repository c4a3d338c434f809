// libcni-driver: the CNI client library inside containerd and CRI-O, built
// from Debian's Go sources by shared/tools/libcni-driver/build.sh.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from './plugin.ts';

const SHARED_BUILD = join(ROOT, '..', 'shared', 'tools', 'libcni-driver', 'build.sh');
const CACHED = join(ROOT, 'node_modules', '.cache', 'flatnet', 'libcni-driver');

/** Path of a libcni-driver binary, building it once if needed; undefined when neither it nor its sources exist. */
export async function libcniDriver(): Promise<string | undefined> {
  for (const p of [process.env.LIBCNI_DRIVER, '/usr/local/bin/libcni-driver', CACHED]) if (p && existsSync(p)) return p;
  if (!existsSync(SHARED_BUILD)) return undefined;
  await execa('bash', [SHARED_BUILD, CACHED]);
  return CACHED;
}
