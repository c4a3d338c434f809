// The platform of the CNI binaries (QuickJS): processes by fork/exec with
// captured output, tied to the plugin's life and given a time limit, flock and setns compiled in (the C module in ./sys). A concurrent
// run is started at once and collected when awaited; the C side feeds its
// stdin and drains its output while it waits.
import * as sys from 'flatnet_sys';
import * as os from 'os';
import { commandNotFound, type Env, type Platform, type RunResult } from '../types.ts';
import { noNul, sysError } from './errno.ts';
import { dirname, join } from './path.ts';

// As Node's child_process: a NUL inside an argument or variable is refused,
// not cut there by C.
const envList = (env: Env): string[] => Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [noNul(`${k}=${v}`, `options.env['${k}']`)]));

/**
 * How long a child may run, in seconds: 60 unless FLATNET_CHILD_TIMEOUT says
 * otherwise. `ip`, `nft` and `iptables-restore` take milliseconds; the one
 * long wait is iptables' xtables lock, which kube-proxy holds for seconds on
 * a large node. A minute covers that and still ends well inside kubelet's
 * 2-minute runtime request timeout (containerd's own ADD deadline is longer),
 * so the plugin itself reports the error and undoes its ADD rather than being
 * killed mid-way.
 */
export const DEFAULT_CHILD_TIMEOUT_S = 60;
function childTimeoutMs(): number {
  const s = Number(process.env.FLATNET_CHILD_TIMEOUT);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_CHILD_TIMEOUT_S) * 1000;
}

function spawnChild(argv: readonly string[], input: string, env: Env, moreInput = false): Child | RunResult {
  argv.forEach((a, i) => noNul(a, i === 0 ? 'file' : `args[${i - 1}]`));
  const timeoutMs = childTimeoutMs();
  const [handle, err] = sys.spawn(argv, envList(env), input, moreInput, timeoutMs);
  if (err === 0) return { handle, file: argv[0]!, timeoutMs };
  if (sys.errnoName(err) === 'ENOENT') return commandNotFound(argv[0]!);
  return { exitCode: 127, stdout: '', stderr: `${argv[0]}: cannot start: ${sys.errnoName(err)}` };
}

interface Child {
  handle: number;
  file: string;
  timeoutMs: number;
}

/**
 * The child's result. One that could not be collected whole (its exit status
 * lost, its output cut short) is a failure whatever the child did: exit code
 * 1, as on the Node platform for a child it cannot wait for, and no stdout,
 * so that no caller parses a part of it.
 */
function collect({ handle, file, timeoutMs }: Child): RunResult {
  const [status, stdout, stderr, err, call] = sys.wait(handle);
  if (err === 0) return { exitCode: status, stdout, stderr };
  const sep = stderr === '' || stderr.endsWith('\n') ? '' : '\n';
  const why = call === 'time limit' ? `killed after its time limit of ${timeoutMs / 1000} s (FLATNET_CHILD_TIMEOUT)` : `cannot collect its result (${call}: ${sys.errnoName(err)})`;
  return { exitCode: 1, stdout: '', stderr: `${stderr}${sep}${file}: ${why}\n` };
}

const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const IFF_PROMISC = 0x100;
const NET_ADDR_SET = 3;
const LOCK_EX = 2;
const LOCK_UN = 8;
const LOCK_NB = 4;
const CLONE_NEWNET = 0x40000000;

export const platform = {
  run(argv, input, env) {
    const h = spawnChild(argv, input, env);
    return 'handle' in h ? collect(h) : h;
  },
  start(argv, input, env) {
    const h = spawnChild(argv, input, env);
    if (!('handle' in h)) return Promise.resolve(h);
    // Collected by a zero timer: QuickJS runs timers only once no promise job
    // is left, i.e. when the caller has nothing to do but wait for this result.
    return new Promise((resolve) => setTimeout(() => resolve(collect(h)), 0));
  },
  startPiped(argv, env) {
    const h = spawnChild(argv, '', env, true);
    if (!('handle' in h)) return { write: () => undefined, finish: () => h };
    return {
      write(data) {
        const err = sys.feed(h.handle, data);
        if (err !== 0) throw sysError(err, 'write', argv[0]);
      },
      finish: () => collect(h),
    };
  },
  flock(fd, op) {
    const err = sys.flock(fd, op === 'exclusive' ? LOCK_EX : LOCK_UN);
    if (err !== 0) throw new Error(`flock(${op}): ${sys.errnoName(err)}`);
  },
  flockWithin(fd, timeoutMs) {
    const until = sys.now() + timeoutMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      const err = sys.flock(fd, LOCK_EX | LOCK_NB);
      if (err === 0) return true;
      if (sys.errnoName(err) !== 'EAGAIN') throw new Error(`flock(exclusive): ${sys.errnoName(err)}`);
      if (sys.now() >= until) return false;
      os.sleep(pause);
    }
  },
  setNetns(fd) {
    const err = sys.setns(fd, CLONE_NEWNET);
    if (err !== 0) throw new Error(`setns: ${sys.errnoName(err)}`);
  },
  readStdin(maxBytes) {
    const [data, err] = sys.readFile(0, maxBytes);
    if (err !== 0 || data === null) throw sysError(err, 'read', '<stdin>');
    return data;
  },
  linkSummary(name) {
    const info = sys.linkInfo(noNul(name, 'name'));
    if (info === null) return undefined;
    if (typeof info === 'number') throw sysError(info, 'getifaddrs');
    const [ifindex, flags, mac, addrs, assignType] = info;
    const [driver] = sys.linkDriver(noNul(name, 'name'));
    return {
      ifindex,
      up: (flags & IFF_UP) !== 0,
      running: (flags & IFF_RUNNING) !== 0,
      promisc: (flags & IFF_PROMISC) !== 0,
      mac,
      ...(driver ? { driver } : {}),
      ...(assignType >= 0 ? { macSet: assignType === NET_ADDR_SET } : {}),
      addrs: addrs.map(([family, address, prefixlen]) => ({ family, address, prefixlen })),
    };
  },
  readDirFiles(dir, maxBytes) {
    const r = sys.readDirFiles(noNul(dir, 'path'), maxBytes);
    if (typeof r === 'number') throw sysError(r, 'scandir', dir);
    return r.map((f) => (f[1] === null ? { name: f[0], error: sys.errnoName(f[2]) } : { name: f[0], content: f[1] }));
  },
  unnamedFile(dir, content, mode) {
    const [fd, err] = sys.unnamedFile(noNul(dir, 'path'), content, mode);
    if (err === 0) return fd;
    // No O_TMPFILE here (filesystem or kernel): the caller names a temp file.
    if (['EOPNOTSUPP', 'EISDIR', 'EINVAL', 'ENOTSUP'].includes(sys.errnoName(err))) return undefined;
    throw sysError(err, 'open', dir);
  },
  linkUnnamed(fd, path) {
    const err = sys.linkFd(fd, noNul(path, 'path'));
    if (err !== 0) throw sysError(err, 'link', path);
  },
  now: () => sys.now(),
  pid: () => process.pid,
  builtExecutable: () => process.execPath,
  // The CNI binary stays small (no yargs, no Kubernetes client): `flatnet
  // <subcommand>` becomes flatnet-cli by execv, so signals and exit codes are
  // its own. It is looked for beside this binary, then on PATH.
  handOffToCli(args) {
    const argv = ['flatnet', ...args].map((a, i) => noNul(a, `args[${i}]`));
    sys.execv(join(dirname(process.execPath), 'flatnet-cli'), argv);
    const err = sys.execv('flatnet-cli', argv);
    process.stderr.write(`flatnet: cannot run flatnet-cli (${sys.errnoName(err)}): the CLI and agent ship as flatnet-cli; install it beside flatnet or on PATH (scripts/install.sh)\n`);
    return process.exit(1);
  },
} satisfies Platform;
