// The globals the shared code expects from Node (process, setTimeout), for
// QuickJS. Imported first by each QuickJS entry point, before any other module
// is evaluated.
import * as std from 'std';
import * as os from 'os';
import * as sys from 'flatnet_sys';
import { check } from './errno.ts';

declare const scriptArgs: string[];

// stdout and stderr are written unbuffered with write(2), so that a failed
// write is seen: a CNI plugin whose result did not reach the runtime (a full
// disk, a closed pipe) must not exit 0. The first stdout failure is kept for
// exit(); stderr failures are ignored, as a log line lost is no wrong result.
let stdoutErrno = 0;
const stdoutWrite = (s: string, cb?: () => void): boolean => {
  const err = stdoutErrno === 0 ? sys.writeFd(1, String(s)) : stdoutErrno;
  stdoutErrno = err;
  cb?.();
  return err === 0;
};
const stderrWrite = (s: string, cb?: () => void): boolean => {
  sys.writeFd(2, String(s));
  cb?.();
  return true;
};

/** The exit code, made a failure when stdout (ours or QuickJS's buffered std.out) lost a write. */
function exitStatus(code: number): number {
  std.out.flush();
  if (stdoutErrno === 0 && !std.out.error()) return code;
  const why = stdoutErrno === 0 ? 'write error' : sys.errnoName(stdoutErrno);
  stderrWrite(`${(scriptArgs[0] ?? 'flatnet').replace(/.*\//, '')}: cannot write to stdout (${why}): the output is incomplete\n`);
  return code === 0 ? 1 : code;
}

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
  stdout: { write: stdoutWrite },
  stderr: { write: stderrWrite },
  exit(code?: number): never {
    return std.exit(exitStatus(code ?? proc.exitCode ?? 0));
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
// only, and the shared code may use them.
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
