#!/usr/bin/env node
// Builds the standalone executables (dist/bin/flatnet, dist/bin/flatnet-ipam)
// with `bun build --compile`: they carry their runtime, so nodes need no
// Node.js, and start in ~12 ms instead of Node's ~60 ms.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bun = join(root, 'node_modules', '.bin', 'bun');
const outDir = join(root, 'dist', 'bin');
mkdirSync(outDir, { recursive: true });

const targets = [
  ['plugin/main.ts', 'flatnet'],
  ['ipam/main.ts', 'flatnet-ipam'],
];
for (const [entry, name] of targets) {
  // No .env/bunfig autoloading: a file in the runtime's working directory must
  // not change what a CNI plugin does (and skipping the lookups saves ~3 ms).
  execFileSync(bun, ['build', '--compile', '--minify', '--bytecode', '--format=esm', '--splitting', '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--sourcemap=none', `--define`, `FLATNET_VERSION=${JSON.stringify(version)}`, join(root, entry), '--outfile', join(outDir, name)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: root,
  });
  console.log(`built ${join('dist', 'bin', name)}`);
}
