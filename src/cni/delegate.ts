// Delegation to another plugin (the IPAM), as Go's pkg/invoke: find it on
// CNI_PATH, give it the same stdin and environment with only CNI_COMMAND
// changed, and hand its error object back unchanged. When the plugin found is
// our own flatnet-ipam installed beside this binary, it runs in-process: same
// code, same inputs, one process fewer per pod.
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CniError, ErrorCode } from './errors.ts';
import { isObject } from './json.ts';
import { invoke, type PluginFuncs } from './skel.ts';
import type { CmdArgs, Result } from './types.ts';
import { toCurrent } from './version.ts';
import { run, type RunResult } from '../sys/exec.ts';

export function findPlugin(name: string, cniPath: string): string {
  if (!name) throw new CniError(ErrorCode.InvalidNetworkConfig, 'no plugin name provided', 'set ipam.type');
  if (name.includes('/')) throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid plugin name: ${name}`, 'a plugin type is a file name, not a path');
  const dirs = cniPath.split(':').filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(ErrorCode.InvalidNetworkConfig, `failed to find plugin "${name}" in path [${dirs.join(' ')}]`, 'install the plugin binary into a CNI_PATH directory or fix ipam.type');
}

/** True when `path` is the same file as `name` shipped beside the running executable. */
function isOurs(path: string, name: string): boolean {
  const exe = process.execPath;
  if (/^(node|bun)(\.exe)?$/.test(basename(exe))) return false; // running from source
  try {
    return realpathSync(path) === realpathSync(join(dirname(exe), name));
  } catch {
    return false;
  }
}

/**
 * Execs a plugin as pkg/invoke does: its stderr passes through; on failure the
 * error object it printed on stdout comes back unchanged as a CniError (or,
 * when it printed none, one that quotes what it did print).
 */
export async function execPlugin(path: string, stdin: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const r = await run([path], stdin, env);
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

export interface DelegateOptions {
  inProcess?: { type: string; funcs: () => Promise<PluginFuncs> };
}

export async function delegate(command: string, pluginType: string, args: CmdArgs, opts: DelegateOptions = {}): Promise<Result | undefined> {
  const path = findPlugin(pluginType, args.path);
  const confVersion = (JSON.parse(args.stdin) as { cniVersion?: string }).cniVersion ?? '0.1.0';
  if (opts.inProcess && opts.inProcess.type === pluginType && isOurs(path, pluginType)) {
    return invoke(await opts.inProcess.funcs(), { ...args, command, env: { ...args.env, CNI_COMMAND: command } });
  }
  const r = await execPlugin(path, args.stdin, { ...args.env, CNI_COMMAND: command });
  if (command !== 'ADD') return undefined;
  let out: unknown;
  try {
    out = JSON.parse(r.stdout);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `${pluginType} printed a result that is not JSON: ${(e as Error).message}`);
  }
  return toCurrent(out, confVersion);
}
