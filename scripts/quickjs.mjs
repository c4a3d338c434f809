// QuickJS, the engine inside the CNI binaries: fetched once from the npm
// registry (the qjsc package carries Fabrice Bellard's 2021-03-27 release
// unchanged under deps/), checked against a pinned hash, and built into
// node_modules/.cache/flatnet/quickjs (libquickjs.a, qjsc). Why QuickJS and not
// Bun for the CNI binaries: 1.3 ms start and ~3 MiB RSS against Bun's ~9 ms
// and ~40 MiB (issue 5: RSS <= 2x the Go plugin).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'qjsc@0.3.0';
const SOURCE_DIR = 'package/deps/quickjs_2021_03_27';
const SHA512 = '6bbf9c53afc855c65b21e8df7ddb7fc1954c5fa2cbd8c0cbdc743d65be469b6dc6f43bc1312ff3f461c5c73dfd6c0be9d8fbcc38cfb2a52380ca892dd83759db';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const quickjsDir = join(root, 'node_modules', '.cache', 'flatnet', 'quickjs-2021-03-27');

/** Returns the directory holding quickjs.h, libquickjs.a and qjsc, building it if needed. */
export function ensureQuickjs() {
  const stamp = join(quickjsDir, '.built');
  if (existsSync(stamp)) return quickjsDir;
  const work = mkdtempSync(join(tmpdir(), 'flatnet-quickjs-'));
  try {
    execFileSync('npm', ['pack', PACKAGE, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')));
    const got = createHash('sha512').update(readFileSync(tgz)).digest('hex');
    if (got !== SHA512) throw new Error(`${PACKAGE}: tarball sha512 ${got} is not the pinned ${SHA512}`);
    execFileSync('tar', ['xzf', tgz, '-C', work, SOURCE_DIR]);
    const src = join(work, SOURCE_DIR);
    // No LTO: the objects go into a static library linked by plain gcc.
    execFileSync('make', ['-C', src, '-j2', 'CONFIG_LTO=', 'qjsc', 'libquickjs.a'], { stdio: ['ignore', 'ignore', 'inherit'] });
    mkdirSync(dirname(quickjsDir), { recursive: true });
    rmSync(quickjsDir, { recursive: true, force: true });
    renameSync(src, quickjsDir);
    writeFileSync(stamp, `${PACKAGE}\n`);
    return quickjsDir;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(ensureQuickjs());
