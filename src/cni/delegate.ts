// Delegation to another plugin (the IPAM), as Go's pkg/invoke: find it on
// CNI_PATH, give it the same stdin and environment with only CNI_COMMAND
// changed, and hand its error object back unchanged.
import { CniError, ErrorCode } from './errors.ts';
import { isObject } from './json.ts';
import type { CmdArgs, Result } from './types.ts';
import { toCurrent } from './version.ts';
import { run, type RunResult } from '../sys/exec.ts';
import { which } from '../sys/which.ts';

export function findPlugin(name: string, cniPath: string): string {
  if (!name) throw new CniError(ErrorCode.InvalidNetworkConfig, 'no plugin name provided', 'set ipam.type');
  if (name.includes('/')) throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid plugin name: ${name}`, 'a plugin type is a file name, not a path');
  const found = which(name, cniPath);
  if (found) return found;
  const dirs = cniPath.split(':').filter(Boolean);
  throw new CniError(ErrorCode.InvalidNetworkConfig, `failed to find plugin "${name}" in path [${dirs.join(' ')}]`, `install ${name} into a CNI_PATH directory (Debian's Go plugins, portmap among them, are in /usr/lib/cni), or fix the type that names it`);
}

/**
 * Execs a plugin as pkg/invoke does: its stderr passes through; on failure the
 * error object it printed on stdout comes back unchanged as a CniError (or,
 * when it printed none, one that quotes what it did print).
 */
export function execPlugin(path: string, stdin: string, env: NodeJS.ProcessEnv): RunResult {
  const r = run([path], stdin, env);
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.exitCode === 0) return r;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    parsed = undefined;
  }
  if (isObject(parsed) && typeof parsed.code === 'number' && typeof parsed.msg === 'string') {
    throw new CniError(parsed.code, parsed.msg, typeof parsed.details === 'string' ? parsed.details : '');
  }
  throw new CniError(ErrorCode.Internal, `netplugin failed: ${JSON.stringify(r.stderr.trim() || r.stdout.trim())}: exit status ${r.exitCode}`);
}

/**
 * Runs the plugin at `path` for `command` with this call's stdin and
 * environment (only CNI_COMMAND changed), as Go's invoke.DelegateAdd/Del/…;
 * for ADD, its result read in the config's version.
 */
export function delegate(command: string, path: string, args: CmdArgs, confVersion: string): Result | undefined {
  const r = execPlugin(path, args.stdin, { ...args.env, CNI_COMMAND: command });
  if (command !== 'ADD') return undefined;
  let out: unknown;
  try {
    out = JSON.parse(r.stdout);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `${path} printed a result that is not JSON: ${(e as Error).message}`);
  }
  return toCurrent(out, confVersion);
}
