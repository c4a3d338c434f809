// A minimal CNI runtime for manual use (`flatnet add|check|del`), as cnitool
// does it through libcni: run a conflist's plugins in order (DEL in reverse)
// with prevResult chained, and cache the ADD result for CHECK/DEL. The cache
// also keeps the netns of the ADD: a CHECK or DEL given another container's
// netns, or an ID with a typo, would otherwise delete another pod's interface
// (DEL removes CNI_IFNAME in whatever netns it is given).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { validateContainerId } from '../cni/args.ts';
import type { ConfList } from '../cni/conflist.ts';
import { execPlugin, findPlugin } from '../cni/delegate.ts';
import { answerAs, CniError, ErrorCode } from '../cni/errors.ts';
import { type IfName, parseIfName } from '../net/names.ts';
import { writeAtomic } from '../sys/write-atomic.ts';

/** One pod interface as the CLI names it to the plugins (the runtime's CNI_* values and its result cache). */
export interface PodAttachment {
  netns: string;
  containerId: string;
  ifName: IfName;
  cniPath: string;
  cacheDir: string;
  args?: string;
}

/** Validates what names the cache file and reaches the plugins, as a runtime would. */
export function attachment(a: Omit<PodAttachment, 'ifName'> & { ifName: string }): PodAttachment {
  validateContainerId(a.containerId);
  return { ...a, ifName: answerAs(ErrorCode.InvalidEnvironmentVariables, () => parseIfName(a.ifName)) };
}

const cacheFile = (l: ConfList, a: PodAttachment): string => join(a.cacheDir, `${l.name}-${a.containerId}-${a.ifName}.json`);

/** Runs one plugin of a list: its config (name, version, prevResult injected) on stdin, CNI_* in the env; ADD returns its result. */
export type PluginRunner = (plugin: ConfList['plugins'][number], command: string, stdin: string, env: NodeJS.ProcessEnv, cniPath: string) => unknown;

export const execRunner: PluginRunner = (plugin, command, stdin, env, cniPath) => {
  const r = execPlugin(findPlugin(plugin.type, cniPath), stdin, env);
  return command === 'ADD' ? JSON.parse(r.stdout) : undefined;
};

function exec(l: ConfList, plugin: ConfList['plugins'][number], command: string, a: PodAttachment, prevResult: unknown, run: PluginRunner): unknown {
  const conf: Record<string, unknown> = { ...plugin, name: l.name, cniVersion: l.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  // The plugin's own error log line would repeat the error the CLI prints.
  const env = { FLATNET_LOG_LEVEL: 'silent', ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: a.containerId, CNI_NETNS: a.netns, CNI_IFNAME: a.ifName, CNI_PATH: a.cniPath, CNI_ARGS: a.args ?? '' };
  try {
    return run(plugin, command, JSON.stringify(conf), env, a.cniPath);
  } catch (e) {
    // Name the plugin: in a list, the message alone does not say which failed.
    if (e instanceof CniError) throw new CniError(e.code, `${plugin.type}: ${e.message}`, e.details);
    throw e;
  }
}

interface Cached {
  result: unknown;
  /** Absent in caches written before the netns was kept. */
  netns?: string;
  network?: string;
  containerId?: string;
}

function readCache(file: string): Cached | undefined {
  try {
    const c: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof c !== 'object' || c === null) return undefined;
    const o = c as Record<string, unknown>;
    if (!('flatnetCli' in o)) return { result: c };
    const text = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    return { result: o.result, netns: text('netns'), network: text('network'), containerId: text('containerId') };
  } catch {
    return undefined;
  }
}

const cached = (l: ConfList, a: PodAttachment): unknown => readCache(cacheFile(l, a))?.result;

/** Whether two netns paths name the same namespace: the same text, or the same nsfs inode. */
function sameNetns(x: string, y: string): boolean {
  if (x === y) return true;
  try {
    const [sx, sy] = [statSync(x), statSync(y)];
    return sx.dev === sy.dev && sx.ino === sy.ino;
  } catch {
    return false;
  }
}

/**
 * Refuses a CHECK/DEL whose netns is not the one its ADD used, or that
 * belongs to another cached attachment. Returns the attachment to run with:
 * the ADD's netns path when the same namespace was given under another path
 * (prevResult names the sandbox by the ADD's path), and whether it was cached.
 */
function guardNetns(l: ConfList, a: PodAttachment, verb: string): { att: PodAttachment; known: boolean } {
  const own = readCache(cacheFile(l, a));
  if (own?.netns !== undefined) {
    if (!sameNetns(own.netns, a.netns)) {
      throw new CniError(ErrorCode.InvalidEnvironmentVariables, `${verb}: ${a.containerId}/${a.ifName} was attached in netns ${own.netns}, not ${a.netns}: nothing done`, `give --netns ${own.netns}`);
    }
    return { att: { ...a, netns: own.netns }, known: true };
  }
  if (own !== undefined) return { att: a, known: true }; // an older cache: its netns is unknown
  const prefix = `${l.name}-`;
  const suffix = `-${a.ifName}.json`;
  let names: string[] = [];
  try {
    names = readdirSync(a.cacheDir).filter((n) => n.startsWith(prefix) && n.endsWith(suffix));
  } catch {
    return { att: a, known: false }; // no cache at all
  }
  for (const n of names) {
    const other = readCache(join(a.cacheDir, n));
    if (other?.netns !== undefined && other.network === l.name && sameNetns(other.netns, a.netns)) {
      const id = other.containerId ?? n.slice(prefix.length, -suffix.length);
      throw new CniError(ErrorCode.UnknownContainer, `${verb}: ${a.ifName} in netns ${a.netns} belongs to ${id}, not ${a.containerId}: nothing done`, `check --id (flatnet add attached ${id}/${a.ifName} there)`);
    }
  }
  return { att: a, known: false };
}

export function addNetwork(l: ConfList, a: PodAttachment, run: PluginRunner = execRunner): unknown {
  // An attachment this runtime already made is not made twice: a second ADD
  // would fail, and its cleanup DEL would take down the first one's interface.
  if (cached(l, a) !== undefined) {
    throw new CniError(ErrorCode.DuplicateAllocation, `${a.containerId}/${a.ifName} is already attached to ${l.name}`, `run flatnet del --id ${a.containerId} --ifname ${a.ifName} first (cached result in ${a.cacheDir})`);
  }
  let result: unknown;
  const done: ConfList['plugins'] = [];
  try {
    for (const p of l.plugins) {
      result = exec(l, p, 'ADD', a, result, run);
      done.push(p);
    }
  } catch (e) {
    // The plugin that failed undid its own work; DEL only those that succeeded,
    // in reverse, so nothing this call did not make is taken down.
    for (const p of done.reverse()) {
      try {
        exec(l, p, 'DEL', a, result, run);
      } catch {
        // best effort: the ADD's error is the one to report
      }
    }
    throw e;
  }
  mkdirSync(a.cacheDir, { recursive: true, mode: 0o700 });
  writeAtomic(cacheFile(l, a), JSON.stringify({ flatnetCli: 1, network: l.name, containerId: a.containerId, netns: a.netns, result }), 0o600);
  return result;
}

export function checkNetwork(l: ConfList, given: PodAttachment, run: PluginRunner = execRunner): void {
  const a = guardNetns(l, given, 'CHECK').att;
  const prev = cached(l, a);
  if (prev === undefined) throw new CniError(ErrorCode.UnknownContainer, `no cached ADD result for ${a.containerId}/${a.ifName} in ${a.cacheDir}`, 'CHECK needs an ADD made with flatnet add');
  for (const p of l.plugins) exec(l, p, 'CHECK', a, prev, run);
}

/** DEL, as a runtime does it; false when flatnet add had made no such attachment (DEL ran anyway: it is idempotent). */
export function delNetwork(l: ConfList, given: PodAttachment, run: PluginRunner = execRunner): boolean {
  const { att: a, known } = guardNetns(l, given, 'DEL');
  const prev = cached(l, a);
  for (const p of [...l.plugins].reverse()) exec(l, p, 'DEL', a, prev, run);
  rmSync(cacheFile(l, a), { force: true });
  return known;
}
