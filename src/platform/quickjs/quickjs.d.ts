// The parts of QuickJS's built-in modules and of our C module (flatnet_sys, in ./sys)
// that the shims use. Only the QuickJS build resolves these imports.
declare module 'std' {
  export function getenviron(): Record<string, string>;
  export function exit(code: number): never;
  export function strerror(errno: number): string;
  interface FILE {
    puts(s: string): void;
    flush(): void;
    /** ferror(3): whether a write to it has failed. */
    error(): boolean;
  }
  export const out: FILE;
  export const err: FILE;
}

declare module 'os' {
  export function open(path: string, flags: number, mode?: number): number;
  export function close(fd: number): number;
  export function remove(path: string): number;
  export function rename(from: string, to: string): number;
  export function mkdir(path: string, mode?: number): number;
  export function readdir(path: string): [string[], number];
  /** Times in milliseconds. */
  export function stat(path: string): [{ dev: number; ino: number; mode: number; size: number; mtime: number }, number];
  export function lstat(path: string): [{ dev: number; ino: number; mode: number; size: number }, number];
  export function realpath(path: string): [string, number];
  export function readlink(path: string): [string, number];
  export function symlink(target: string, path: string): number;
  export function kill(pid: number, sig: number): number;
  export function setTimeout(fn: () => void, ms: number): unknown;
  export function clearTimeout(h: unknown): void;
  export function sleep(ms: number): void;
  export const O_RDONLY: number;
  export const O_WRONLY: number;
  export const O_RDWR: number;
  export const O_CREAT: number;
  export const O_EXCL: number;
  export const O_TRUNC: number;
  export const O_APPEND: number;
  export const S_IFMT: number;
  export const S_IFREG: number;
  export const S_IFDIR: number;
}

declare module 'flatnet_sys' {
  export function readFile(pathOrFd: string | number, maxBytes?: number): [string | null, number];
  export function writeFile(path: string, data: string, flags: number, mode: number): number;
  /** write(2) all of data, unbuffered; the errno of a failure. */
  export function writeFd(fd: number, data: string): number;
  /** open(2) with O_CLOEXEC always added: [fd, errno]. */
  export function open(path: string, flags: number, mode: number): [number, number];
  /** fstat(2): [[dev, ino, mode, size], 0] or [null, errno]. */
  export function fstat(fd: number): [[number, number, number, number] | null, number];
  export const O_NONBLOCK: number;
  export const O_NOCTTY: number;
  export function link(from: string, to: string): number;
  /** O_TMPFILE in dir, data written: [fd, errno]. */
  export function unnamedFile(dir: string, data: string, mode: number): [number, number];
  /** linkat of the file open at fd to path: errno. */
  export function linkFd(fd: number, path: string): number;
  export function flock(fd: number, op: number): number;
  export function setns(fd: number, nstype: number): number;
  export function statfsType(path: string): [number, number];
  export function getpid(): number;
  export function errnoName(errno: number): string;
  export function randomBytes(n: number): ArrayBuffer;
  /** The child is killed timeoutMs after its start unless collected by then. */
  export function spawn(argv: readonly string[], env: string[] | null, input: string, moreInput?: boolean, timeoutMs?: number): [number, number];
  export function feed(handle: number, data: string): number;
  /** [status, stdout, stderr, errno, call]: status -1 when `call` failed with errno. */
  export function wait(handle: number): [number, string, string, number, string];
  export function execv(pathOrName: string, argv: readonly string[]): number;
  /** [ifindex, flags, mac, [[family, address, prefixlen]], addr_assign_type or -1], null when absent, or an errno. */
  export function linkInfo(name: string): [number, number, string, Array<[4 | 6, string, number]>, number] | null | number;
  export function linkDriver(name: string): [string | null, number];
  export function now(): number;
  export function sha512Hex(s: string): string;
  export function readDirFiles(dir: string, maxBytes: number): Array<[string, string] | [string, null, number]> | number;
}
