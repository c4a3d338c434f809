#!/usr/bin/env node
// Builds the standalone executables in dist/bin:
//   flatnet, flatnet-ipam  the CNI binaries: TypeScript bundled by esbuild,
//                          compiled to QuickJS bytecode by qjsc and linked
//                          statically with QuickJS and the C module in src/platform/quickjs/sys. They
//                          start in ~1 ms with ~3 MiB RSS and need nothing on
//                          the node (not even glibc).
//   flatnet-cli            the agent and CLI (yargs, Kubernetes client), with
//                          `bun build --compile`; `flatnet <subcommand>` execs it.
// Node's built-ins that the CNI path uses are swapped for QuickJS shims in
// src/platform/quickjs (see REPLACE); the shared code is the same in both.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { runStep } from './progress.mjs';
import { ensureQuickjs } from './quickjs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outDir = join(root, 'dist', 'bin');
const workDir = join(root, 'dist', 'qjs');

const platform = join(root, 'src', 'platform', 'quickjs');
// What the QuickJS build uses instead: Node built-ins, and the platform
// (src/platform/index.ts, the one module whose job is runtime-specific).
const REPLACE = {
  'node:fs': 'fs.ts',
  'node:path': 'path.ts',
  'node:os': 'os.ts',
  'node:crypto': 'crypto.ts',
  pino: 'pino.ts',
  [join(root, 'src/platform/index.ts')]: 'index.ts',
};
const NATIVE = ['std', 'os', 'flatnet_sys'];
// The C module flatnet_sys, one file per concern (see its flatnet_sys.h).
const C_MODULE = readdirSync(join(platform, 'sys'))
  .filter((f) => f.endsWith('.c'))
  .sort()
  .map((f) => join(platform, 'sys', f));

const quickjsPlatform = {
  name: 'quickjs-platform',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (NATIVE.includes(args.path)) return { path: args.path, external: true };
      const abs = args.path.startsWith('.') ? join(args.resolveDir, args.path) : args.path;
      const shim = REPLACE[abs];
      if (shim) return { path: join(platform, shim) };
      if (abs.startsWith('node:') || abs === 'bun:ffi') return { errors: [{ text: `${abs} has no QuickJS shim (imported by ${args.importer}); add one to src/platform/quickjs` }] };
      return undefined;
    });
  },
};

/**
 * Compiles `entry` (a path from the repo root) into the static QuickJS
 * executable `out`. Test probes only: `cflags` adds C flags (-DFLATNET_FAULTS
 * compiles the C module's fault injection in), and `dynamic` links against
 * the shared libc, which valgrind needs to see malloc and free.
 */
export async function buildQuickjs(entry, out, { cflags = [], dynamic = false, qjs } = {}) {
  qjs ??= await ensureQuickjs();
  const name = basename(out);
  mkdirSync(workDir, { recursive: true });
  const bundle = join(workDir, `${name}.mjs`);
  await build({
    stdin: { contents: `import './src/platform/quickjs/prelude.ts';\nimport './${entry}';\n`, resolveDir: root, loader: 'ts', sourcefile: `${name}-entry.ts` },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    // QuickJS 2021-03-27 implements ES2020.
    target: 'es2020',
    // Unminified: same start-up (1.8 ms for VERSION either way, measured with
    // hyperfine), and a stack trace in a user's log keeps its function names.
    minify: false,
    legalComments: 'none',
    define: { FLATNET_VERSION: JSON.stringify(version) },
    plugins: [quickjsPlatform],
    outfile: bundle,
    logLevel: 'warning',
  });
  const csrc = join(workDir, `${name}.c`);
  execFileSync(join(qjs, 'qjsc'), ['-e', '-m', '-M', 'flatnet_sys,flatnet_sys', '-o', csrc, bundle]);
  // Static, like the Go plugins: nothing on the node to match. ld's warning
  // about QuickJS's (unused) .so module loader is printed only on failure.
  try {
    const link = dynamic ? ['-g'] : ['-static', '-s'];
    execFileSync('gcc', ['-O2', ...link, ...cflags, `-I${qjs}`, '-o', out, csrc, ...C_MODULE, join(qjs, 'libquickjs.a'), '-lm', '-ldl', '-lpthread'], { stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(e.stderr ?? '');
    throw e;
  }
}

async function buildBun(entry, name) {
  // No .env/bunfig autoloading: a file in the working directory must not
  // change what flatnet does (and skipping the lookups saves ~3 ms).
  await runStep({ name: 'Bun', what: `compiling ${join('dist', 'bin', name)} with Bun`, cwd: root }, join(root, 'node_modules', '.bin', 'bun'), ['build', '--compile', '--minify', '--bytecode', '--format=esm', '--splitting', '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--sourcemap=none', '--define', `FLATNET_VERSION=${JSON.stringify(version)}`, join(root, entry), '--outfile', join(outDir, name)]);
  console.log(`built ${join('dist', 'bin', name)} (Bun)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(outDir, { recursive: true });
  for (const [entry, name] of [
    ['plugin/main.ts', 'flatnet'],
    ['ipam/main.ts', 'flatnet-ipam'],
  ]) {
    await buildQuickjs(entry, join(outDir, name));
    console.log(`built ${join('dist', 'bin', name)} (QuickJS)`);
  }
  await buildBun('src/cli/flatnet-cli.ts', 'flatnet-cli');
}
