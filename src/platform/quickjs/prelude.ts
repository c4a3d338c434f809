// The globals the shared code expects from Node (process, setTimeout), for
// QuickJS. Imported first by each QuickJS entry point, before any other module
// is evaluated.
import * as std from 'std';
import * as os from 'os';
import * as sys from 'flatnet_sys';
import { check } from './errno.ts';

declare const scriptArgs: string[];

const write = (f: std.FILE) => (s: string, cb?: () => void): boolean => {
  f.puts(s);
  f.flush();
  cb?.();
  return true;
};

const [exe] = os.readlink('/proc/self/exe');

const proc = {
  env: std.getenviron() as Record<string, string | undefined>,
  // Node's shape: [runtime, script, ...args].
  argv: [exe, ...scriptArgs],
  execPath: exe,
  pid: sys.getpid(),
  platform: 'linux',
  versions: { quickjs: '2021-03-27' } as Record<string, string>,
  exitCode: undefined as number | undefined,
  stdout: { write: write(std.out) },
  stderr: { write: write(std.err) },
  exit(code?: number): never {
    std.out.flush();
    std.err.flush();
    return std.exit(code ?? proc.exitCode ?? 0);
  },
  kill(pid: number, sig = 15): true {
    check(os.kill(pid, sig), 'kill');
    return true;
  },
};

const g = globalThis as Record<string, unknown>;
g.process = proc;
g.setTimeout = (fn: () => void, ms = 0) => os.setTimeout(fn, ms);
g.clearTimeout = (h: unknown) => os.clearTimeout(h);

// ES2022 library functions QuickJS 2021-03-27 lacks; esbuild lowers syntax
// only. (@noble/hashes uses Object.hasOwn.)
const define = (o: object, name: string, fn: unknown): void => {
  if (!(name in o)) Object.defineProperty(o, name, { value: fn, writable: true, configurable: true });
};
define(Object, 'hasOwn', (o: object, k: PropertyKey) => Object.prototype.hasOwnProperty.call(o, k));
function at<T>(this: ArrayLike<T>, i: number): T | undefined {
  const n = Math.trunc(i) || 0;
  return this[n < 0 ? this.length + n : n];
}
define(Array.prototype, 'at', at);
define(String.prototype, 'at', at);
