// QuickJS, the engine inside the CNI binaries. Its source arrives with
// `npm install`: the devDependency qjsc@0.3.0 (pinned exactly) carries
// Fabrice Bellard's 2021-03-27 release unchanged under deps/. npm checks the
// tarball against the sha512 in package-lock.json; here we check that the
// lock still holds the pinned sha512 and hash the source tree we compile, then
// build it once into node_modules/.cache/flatnet/quickjs-2021-03-27
// (libquickjs.a, qjsc). Nothing here touches the network: a build works with
// the registry unreachable once `npm install` has run.
// Why QuickJS and not Bun for the CNI binaries: 1.3 ms start and ~3 MiB RSS
// against Bun's ~9 ms and ~40 MiB (issue 5: RSS <= 2x the Go plugin).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStep } from './progress.mjs';

const PACKAGE = 'qjsc@0.3.0';
/** The tarball's sha512 (base64 of 6bbf9c53…59db), as npm writes it into package-lock.json. */
const INTEGRITY = 'sha512-a7+cU6/IVcZbIejffdt/wZVMX6LL2MDL3HQ9Zb5Gm23G9DvBMS/z9GHFxz39bAvp2PvMOM+ypSOAyokt2DdZ2w==';
/** sha256 over `path\0sha256(file)\n` of every file under deps/quickjs_2021_03_27, sorted by path. */
const SOURCE_SHA256 = 'df814226eae50a39f72e0add4226518add2ede01a83001705547636dd6e20d54';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const sourceDir = join(root, 'node_modules', 'qjsc', 'deps', 'quickjs_2021_03_27');
export const quickjsDir = join(root, 'node_modules', '.cache', 'flatnet', 'quickjs-2021-03-27');

function files(dir, rel = '') {
  const out = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...files(dir, r));
    else out.push(r);
  }
  return out;
}

/** The digest SOURCE_SHA256 pins, for the tree at `dir`. */
export function sourceDigest(dir = sourceDir) {
  const h = createHash('sha256');
  for (const f of files(dir).sort()) h.update(`${f}\0${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')}\n`);
  return h.digest('hex');
}

/** Throws unless node_modules holds the pinned QuickJS source. */
export function checkSource() {
  const npmHint = 'run `npm install` (npm test, npm run demo and npm run build run it when node_modules is missing or stale)';
  if (!existsSync(sourceDir)) throw new Error(`QuickJS source not found at ${sourceDir}: ${npmHint}`);
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const got = lock.packages?.['node_modules/qjsc']?.integrity;
  if (got !== INTEGRITY) throw new Error(`package-lock.json pins ${PACKAGE} to ${got ?? 'nothing'}, not ${INTEGRITY}`);
  const digest = sourceDigest();
  if (digest !== SOURCE_SHA256) throw new Error(`${sourceDir}: source digest ${digest} is not the pinned ${SOURCE_SHA256}; ${npmHint}`);
}

/** Returns the directory holding quickjs.h, libquickjs.a and qjsc, building it (once) if needed. */
export async function ensureQuickjs() {
  const stamp = join(quickjsDir, '.built');
  const want = `${PACKAGE} ${SOURCE_SHA256}\n`;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return quickjsDir;
  checkSource();
  const cache = dirname(quickjsDir);
  mkdirSync(cache, { recursive: true });
  // Built in a copy beside the cache (same file system, so the rename is
  // atomic) and never in node_modules/qjsc, which stays as npm left it.
  const work = mkdtempSync(join(cache, '.quickjs-build-'));
  try {
    const src = join(work, 'quickjs');
    cpSync(sourceDir, src, { recursive: true });
    // qjsc.o, the five library objects and libbf.o (CONFIG_BIGNUM).
    const objects = 7;
    const built = () => (existsSync(join(src, '.obj')) ? readdirSync(join(src, '.obj')).filter((f) => f.endsWith('.o')).length : 0);
    // No LTO: the objects go into a static library linked by plain gcc.
    await runStep(
      { name: 'QuickJS', what: 'compiling QuickJS 2021-03-27 from node_modules/qjsc (once; about a minute on 2 cores)', progress: () => `${built()} of ${objects} object files` },
      'make',
      ['-C', src, '-j2', 'CONFIG_LTO=', 'qjsc', 'libquickjs.a'],
    );
    rmSync(quickjsDir, { recursive: true, force: true });
    renameSync(src, quickjsDir);
    writeFileSync(stamp, want);
    return quickjsDir;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await ensureQuickjs());
