// Node-style system errors ("ENOENT: no such file or directory, open '/x'",
// with .code), so code shared with the Node/Bun build handles both alike.
import * as std from 'std';
import { errnoName } from 'flatnet_sys';

export function sysError(errno: number, syscall: string, path?: string): Error & { code: string; errno: number; syscall: string } {
  const code = errnoName(errno);
  const e = new Error(`${code}: ${std.strerror(errno).toLowerCase()}, ${syscall}${path === undefined ? '' : ` '${path}'`}`) as Error & { code: string; errno: number; syscall: string };
  e.code = code;
  e.errno = -errno;
  e.syscall = syscall;
  return e;
}

/** QuickJS's os functions return -errno; throws for those, passes anything else through. */
export function check(ret: number, syscall: string, path?: string): number {
  if (ret < 0) throw sysError(-ret, syscall, path);
  return ret;
}

/**
 * Node's refusal of a string with a NUL inside (ERR_INVALID_ARG_VALUE): C
 * would act on the part before the NUL, i.e. on another path or argument.
 */
export function noNul(value: string, name: string): string {
  if (typeof value === 'string' && value.includes('\0')) {
    throw Object.assign(new TypeError(`The argument '${name}' must be a string without null bytes. Received ${JSON.stringify(value)}`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return value;
}
