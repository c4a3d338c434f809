// The platform on Node (tests, scripts) and Bun (flatnet-cli: the agent and the
// command line). libc calls Node lacks (flock, setns) come from Bun's FFI; on
// plain Node they throw rather than pretend: nothing that runs on Node in
// production needs them.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type * as BunFfiModule from 'bun:ffi';
import { commandNotFound, type DirFile, type Env, type Platform, type RunResult } from '../types.ts';

type BunFfi = typeof BunFfiModule;

interface Libc {
  flock(fd: number, op: number): number;
  setns(fd: number, nstype: number): number;
  signal(sig: number, handler: bigint): bigint;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (!process.versions.bun) return libc;
  const { dlopen, FFIType } = createRequire(import.meta.url)('bun:ffi') as BunFfi;
  for (const lib of ['libc.so.6', 'libc.so']) {
    try {
      const l = dlopen(lib, {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        setns: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        signal: { args: [FFIType.i32, FFIType.u64], returns: FFIType.u64 },
      });
      libc = { flock: l.symbols.flock as Libc['flock'], setns: l.symbols.setns as Libc['setns'], signal: l.symbols.signal as Libc['signal'] };
      break;
    } catch {
      // try the next name
    }
  }
  return libc;
}

function needLibc(what: string): Libc {
  const l = loadLibc();
  if (!l) throw new Error(`${what} needs the built flatnet binaries (QuickJS or Bun); plain Node has no ${what}`);
  return l;
}

const SIGCHLD = 17;
const SIG_DFL = 0n;
let sigchldReset = false;

/**
 * Bun keeps SIGCHLD as it found it: started by a parent that ignores it, the
 * kernel reaps every child at once and Bun loses its exit status (a success
 * reads as status null, a concurrent child throws ECHILD). Set back to the
 * default once, before the first child. Node installs its own handler.
 */
function resetSigchld(): void {
  if (sigchldReset) return;
  sigchldReset = true;
  loadLibc()?.signal(SIGCHLD, SIG_DFL);
}

/**
 * The longest a child may run, as in the CNI binaries (FLATNET_CHILD_TIMEOUT, seconds, overrides it): an `ip`
 * or iptables that hangs (a stuck xtables lock, a wedged netlink socket) is
 * killed, the step fails and is retried, instead of the agent waiting for it
 * for ever with its event loop stopped (no /healthz, no SIGTERM handling).
 */
const childTimeoutMs = (): number => (Number(process.env.FLATNET_CHILD_TIMEOUT) > 0 ? Number(process.env.FLATNET_CHILD_TIMEOUT) * 1000 : 60_000);

function run(argv: readonly string[], input: string, env: Env): RunResult {
  resetSigchld();
  const [file, ...rest] = argv;
  const limit = childTimeoutMs();
  const r = spawnSync(file!, rest, { input, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: limit, killSignal: 'SIGKILL' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return commandNotFound(file!);
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' || (r.status === null && r.signal === 'SIGKILL')) {
    return { exitCode: 1, stdout: r.stdout ?? '', stderr: `${file}: killed after its time limit of ${limit / 1000} s (FLATNET_CHILD_TIMEOUT)` };
  }
  return { exitCode: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error.message) : '') };
}

/**
 * Starts a process that runs alongside the synchronous runs that follow. Its
 * input goes through an unlinked temp file, not a pipe: a pipe would only be
 * fed when the event loop runs, which the synchronous runs prevent.
 */
function start(argv: readonly string[], input: string, env: Env): Promise<RunResult> {
  resetSigchld();
  let fd: number | undefined;
  if (input !== '') {
    const path = join(tmpdir(), `.flatnet-in-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      writeFileSync(path, input, { mode: 0o600, flag: 'wx' });
      fd = openSync(path, 'r');
    } catch {
      // No room for the temp file (a full /tmp): give up the concurrency, not the step.
      return Promise.resolve(run(argv, input, env));
    } finally {
      try {
        unlinkSync(path);
      } catch {
        // never created
      }
    }
  }
  const [file, ...rest] = argv;
  return new Promise((resolve) => {
    const child = spawn(file!, rest, { stdio: [fd ?? 'ignore', 'pipe', 'pipe'], env });
    if (fd !== undefined) closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (e) => resolve((e as NodeJS.ErrnoException).code === 'ENOENT' ? commandNotFound(file!) : { exitCode: 127, stdout, stderr: `${file}: ${e.message}` }));
    child.on('close', (code, signal) => resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

const LOCK_EX = 2;
const LOCK_UN = 8;
const LOCK_NB = 4;
const CLONE_NEWNET = 0x40000000;

function readStdin(maxBytes: number): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(65536);
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // A non-blocking stdin with nothing yet: wait a little rather than spin.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) throw Object.assign(new Error(`stdin is larger than ${maxBytes} bytes`), { code: 'EFBIG' });
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readDirFiles(dir: string, maxBytes: number): DirFile[] {
  const out: DirFile[] = [];
  for (const name of readdirSync(dir)) {
    let fd: number;
    try {
      fd = openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      // Gone, or a symlink: not a file of this directory. Unreadable: say so.
      if (code !== 'ENOENT' && code !== 'ELOOP') out.push({ name, error: code });
      continue;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) continue;
      if (st.size > maxBytes) out.push({ name, error: 'EFBIG' });
      else out.push({ name, content: readFileSync(fd, 'utf8') });
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

export const platform = {
  run,
  // Node cannot collect a child synchronously while feeding it from the event
  // loop, so the piped run happens at finish(): same result, no overlap.
  startPiped(argv, env) {
    let input = '';
    return {
      write: (data) => void (input += data),
      finish: () => run(argv, input, env),
    };
  },
  readStdin,
  start,
  flock(fd, op) {
    if (needLibc('flock').flock(fd, op === 'exclusive' ? LOCK_EX : LOCK_UN) !== 0) throw new Error(`flock(${op}) failed`);
  },
  flockWithin(fd, timeoutMs) {
    const { flock } = needLibc('flock');
    const until = Date.now() + timeoutMs;
    const pauses = new Int32Array(new SharedArrayBuffer(4));
    // The FFI gives no errno: a lock that cannot be taken reads as held until the timeout.
    for (let pause = 5; flock(fd, LOCK_EX | LOCK_NB) !== 0; pause = Math.min(pause * 2, 100)) {
      if (Date.now() >= until) return false;
      Atomics.wait(pauses, 0, 0, pause);
    }
    return true;
  },
  setNetns(fd) {
    if (needLibc('setns').setns(fd, CLONE_NEWNET) !== 0) throw new Error('setns(CLONE_NEWNET) failed');
  },
  // Node has no getifaddrs with flags and no ethtool: the caller asks `ip`.
  linkSummary: () => null,
  readDirFiles,
  // Node's link(2) cannot name an O_TMPFILE file (that takes linkat with
  // AT_SYMLINK_FOLLOW): the store writes a named temp file instead.
  unnamedFile: () => undefined,
  linkUnnamed() {
    throw new Error('linkUnnamed: no unnamed files on this platform');
  },
  now: () => performance.now(),
  pid: () => process.pid,
  builtExecutable() {
    // A script run by node or bun is not a built flatnet binary.
    const exe = process.execPath;
    return /^(node|bun)$/.test(basename(exe)) ? undefined : realpathSync(exe);
  },
  handOffToCli(args) {
    resetSigchld();
    const cli = join(dirname(process.execPath), 'flatnet-cli');
    const r = spawnSync(cli, args, { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  },
} satisfies Platform;
