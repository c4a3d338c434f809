// node:fs, as much of it as the CNI binaries use, on QuickJS's os module and
// flatnet_sys. Semantics follow Node's: errors carry .code, readFileSync with
// an encoding returns a string, a path with a NUL inside is refused (QuickJS's
// os functions would cut it there), and every fd opened here is close-on-exec
// so that no child (the pod-side `ip`) inherits a lock or a namespace.
import * as os from 'os';
import * as sys from 'flatnet_sys';
import { check, noNul, sysError } from './errno.ts';
import { dirname, join } from './path.ts';

export const constants = {
  O_RDONLY: os.O_RDONLY,
  O_WRONLY: os.O_WRONLY,
  O_RDWR: os.O_RDWR,
  O_CREAT: os.O_CREAT,
  O_EXCL: os.O_EXCL,
  O_TRUNC: os.O_TRUNC,
  O_APPEND: os.O_APPEND,
  O_NONBLOCK: sys.O_NONBLOCK,
  O_NOCTTY: sys.O_NOCTTY,
};

const FLAGS: Record<string, number> = {
  r: os.O_RDONLY,
  'r+': os.O_RDWR,
  w: os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
  wx: os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL,
  a: os.O_WRONLY | os.O_CREAT | os.O_APPEND,
};

function flagBits(flags: string | number | undefined, dflt: string): number {
  if (typeof flags === 'number') return flags;
  const bits = FLAGS[flags ?? dflt];
  if (bits === undefined) throw new TypeError(`unsupported open flags: ${String(flags)}`);
  return bits;
}

/** Always decodes UTF-8: every caller on the CNI path asks for 'utf8'. */
export function readFileSync(path: string | number, _encoding?: unknown): string {
  const [data, err] = sys.readFile(typeof path === 'number' ? path : noNul(path, 'path'));
  if (err !== 0 || data === null) throw sysError(err, 'open', String(path));
  return data;
}

export function writeFileSync(path: string, data: string, opts?: { mode?: number; flag?: string } | string): void {
  const o = typeof opts === 'object' ? opts : {};
  const err = sys.writeFile(noNul(path, 'path'), String(data), flagBits(o.flag, 'w'), o.mode ?? 0o666);
  if (err !== 0) throw sysError(err, 'write', path);
}

export function openSync(path: string, flags?: string | number, mode = 0o666): number {
  const [fd, err] = sys.open(noNul(path, 'path'), flagBits(flags, 'r'), mode);
  if (err !== 0) throw sysError(err, 'open', path);
  return fd;
}

export function closeSync(fd: number): void {
  check(os.close(fd), 'close');
}

export function linkSync(from: string, to: string): void {
  const err = sys.link(noNul(from, 'existingPath'), noNul(to, 'newPath'));
  if (err !== 0) throw sysError(err, 'link', from);
}

export function renameSync(from: string, to: string): void {
  check(os.rename(noNul(from, 'oldPath'), noNul(to, 'newPath')), 'rename', from);
}

export function unlinkSync(path: string): void {
  check(os.remove(noNul(path, 'path')), 'unlink', path);
}

class Stats {
  constructor(private readonly st: { dev: number; ino: number; mode: number; size: number; mtime?: number }) {}
  /** NaN where the call gives no time (fstat). */
  get mtimeMs(): number {
    return this.st.mtime ?? Number.NaN;
  }
  get dev(): number {
    return this.st.dev;
  }
  get ino(): number {
    return this.st.ino;
  }
  get size(): number {
    return this.st.size;
  }
  isFile(): boolean {
    return (this.st.mode & os.S_IFMT) === os.S_IFREG;
  }
  isDirectory(): boolean {
    return (this.st.mode & os.S_IFMT) === os.S_IFDIR;
  }
}

export function fstatSync(fd: number): Stats {
  const [st, err] = sys.fstat(fd);
  if (err !== 0 || st === null) throw sysError(err, 'fstat');
  return new Stats({ dev: st[0], ino: st[1], mode: st[2], size: st[3] });
}

/** Writes all of data (a string) at fd; the whole call fails on a short write. */
export function writeSync(fd: number, data: string): number {
  const err = sys.writeFd(fd, data);
  if (err !== 0) throw sysError(err, 'write');
  return data.length;
}

export function statSync(path: string): Stats {
  const [st, err] = os.stat(noNul(path, 'path'));
  if (err !== 0) throw sysError(err, 'stat', path);
  return new Stats(st);
}

export function mkdirSync(path: string, opts?: { recursive?: boolean; mode?: number }): void {
  const mode = opts?.mode ?? 0o777;
  let ret = os.mkdir(noNul(path, 'path'), mode);
  if (ret !== 0 && opts?.recursive) {
    // A missing parent is made first; an existing directory is no error.
    const parent = dirname(path);
    if (sys.errnoName(-ret) === 'ENOENT' && parent !== path) {
      mkdirSync(parent, opts);
      ret = os.mkdir(path, mode);
    }
    if (ret !== 0 && isDirectory(path)) return;
  }
  if (ret !== 0) throw sysError(-ret, 'mkdir', path);
}

function isDirectory(path: string): boolean {
  const [st, err] = os.stat(path);
  return err === 0 && new Stats(st).isDirectory();
}

interface Dirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
}

export function readdirSync(path: string): string[];
export function readdirSync(path: string, opts: { withFileTypes: true }): Dirent[];
export function readdirSync(path: string, opts?: { withFileTypes?: boolean }): string[] | Dirent[] {
  const [names, err] = os.readdir(noNul(path, 'path'));
  if (err !== 0) throw sysError(err, 'scandir', path);
  const own = names.filter((n) => n !== '.' && n !== '..');
  if (!opts?.withFileTypes) return own;
  // lstat, as Node's Dirent reports the entry itself, not a symlink's target.
  return own.map((name) => {
    const [st, e] = os.lstat(join(path, name));
    const s = new Stats(e === 0 ? st : { dev: 0, ino: 0, mode: 0, size: 0 });
    return { name, isFile: () => s.isFile(), isDirectory: () => s.isDirectory() };
  });
}

export function realpathSync(path: string): string {
  const [p, err] = os.realpath(noNul(path, 'path'));
  if (err !== 0) throw sysError(err, 'realpath', path);
  return p;
}

export function statfsSync(path: string): { type: number } {
  const [type, err] = sys.statfsType(noNul(path, 'path'));
  if (err !== 0) throw sysError(err, 'statfs', path);
  return { type };
}
