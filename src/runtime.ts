// A minimal CNI runtime for manual use (`flatnet add|check|del`), as cnitool
// does it through libcni: load the conflist, run its plugins in order (DEL in
// reverse) with prevResult chained, and cache the ADD result for CHECK/DEL.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from './cni/errors.ts';
import { execPlugin, findPlugin } from './cni/delegate.ts';
import { isObject } from './cni/json.ts';

export interface ConfList {
  name: string;
  cniVersion: string;
  plugins: Array<Record<string, unknown> & { type: string }>;
  path: string;
}

/** The conflist named `network` in `dir`, or the first by file name (the runtimes' rule). */
export function loadConfList(dir: string, network?: string): ConfList {
  const files = readdirSync(dir).filter((f) => f.endsWith('.conflist')).sort();
  for (const f of files) {
    const path = join(dir, f);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    if (!isObject(doc) || !Array.isArray(doc.plugins) || typeof doc.name !== 'string') continue;
    if (network && doc.name !== network) continue;
    return { name: doc.name, cniVersion: String(doc.cniVersion ?? '0.1.0'), plugins: doc.plugins as ConfList['plugins'], path };
  }
  throw new CniError(ErrorCode.InvalidNetworkConfig, network ? `no conflist named ${network} in ${dir}` : `no .conflist in ${dir}`);
}

export interface Attachment {
  netns: string;
  containerId: string;
  ifName: string;
  cniPath: string;
  cacheDir: string;
  args?: string;
}

const cacheFile = (l: ConfList, a: Attachment): string => join(a.cacheDir, `${l.name}-${a.containerId}-${a.ifName}.json`);

async function exec(l: ConfList, plugin: ConfList['plugins'][number], command: string, a: Attachment, prevResult?: unknown): Promise<unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: l.name, cniVersion: l.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const env = { ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: a.containerId, CNI_NETNS: a.netns, CNI_IFNAME: a.ifName, CNI_PATH: a.cniPath, CNI_ARGS: a.args ?? '' };
  let r;
  try {
    r = await execPlugin(findPlugin(plugin.type, a.cniPath), JSON.stringify(conf), env);
  } catch (e) {
    // Name the plugin: in a list, the message alone does not say which failed.
    if (e instanceof CniError) throw new CniError(e.code, `${plugin.type}: ${e.message}`, e.details);
    throw e;
  }
  return command === 'ADD' ? JSON.parse(r.stdout) : undefined;
}

export async function addNetwork(l: ConfList, a: Attachment): Promise<unknown> {
  let result: unknown;
  const done: ConfList['plugins'] = [];
  try {
    for (const p of l.plugins) {
      result = await exec(l, p, 'ADD', a, result);
      done.push(p);
    }
  } catch (e) {
    // As the spec asks of runtimes: a failed ADD is cleaned up with DEL.
    for (const p of [...l.plugins].reverse()) await exec(l, p, 'DEL', a, result).catch(() => undefined);
    throw e;
  }
  mkdirSync(a.cacheDir, { recursive: true, mode: 0o700 });
  writeFileSync(cacheFile(l, a), JSON.stringify(result), { mode: 0o600 });
  return result;
}

function cached(l: ConfList, a: Attachment): unknown {
  try {
    return JSON.parse(readFileSync(cacheFile(l, a), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function checkNetwork(l: ConfList, a: Attachment): Promise<void> {
  const prev = cached(l, a);
  if (prev === undefined) throw new CniError(ErrorCode.UnknownContainer, `no cached ADD result for ${a.containerId}/${a.ifName} in ${a.cacheDir}`, 'CHECK needs an ADD made with flatnet add');
  for (const p of l.plugins) await exec(l, p, 'CHECK', a, prev);
}

export async function delNetwork(l: ConfList, a: Attachment): Promise<void> {
  const prev = cached(l, a);
  for (const p of [...l.plugins].reverse()) await exec(l, p, 'DEL', a, prev);
  rmSync(cacheFile(l, a), { force: true });
}
