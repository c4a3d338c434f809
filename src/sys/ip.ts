// iproute2 through exec: JSON queries and batches, in this namespace or inside
// another one through nsenter (ip -n only takes names under /run/netns, while
// runtimes pass any path).
import { writeFileSync } from 'node:fs';
import { runConcurrently, runOk, runSync, ExecError, type RunResult } from './exec.ts';
import { inNetns } from './netns.ts';

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
}

export interface IpLink {
  ifname: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  master?: string;
  flags?: string[];
  link_index?: number;
  ifindex?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

const inNs = (netns: string | undefined, argv: string[]): string[] => (netns ? ['nsenter', `--net=${netns}`, ...argv] : argv);

/**
 * Runs argv here, or inside `netns`: entered by setns(2) when FFI is there (no
 * extra process), else through nsenter. Every `ip` call of this module goes
 * through it.
 */
function runIn(netns: string | undefined, argv: string[], input?: string): RunResult {
  if (!netns) return runSync(argv, input);
  return inNetns(netns, () => runSync(argv, input))?.value ?? runSync(inNs(netns, argv), input);
}

function runInOk(netns: string | undefined, argv: string[]): string {
  const r = runIn(netns, argv);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
  return r.stdout;
}

const notFound = (stderr: string): boolean => /does not exist|Cannot find device/.test(stderr);

/** `ip -j -d addr show dev NAME`; undefined when the link is absent. */
export async function showLink(name: string, netns?: string, opts: { concurrent?: boolean } = {}): Promise<IpLink | undefined> {
  const argv = ['ip', '-j', '-d', 'addr', 'show', 'dev', name];
  // concurrent: the query runs while the caller keeps working synchronously.
  const r = opts.concurrent ? await runConcurrently(inNs(netns, argv), '') : runIn(netns, argv);
  if (r.exitCode !== 0) {
    if (notFound(r.stderr)) return undefined;
    throw new ExecError(['ip', 'addr', 'show', 'dev', name], r);
  }
  return (JSON.parse(r.stdout) as IpLink[])[0];
}

export async function listLinks(netns?: string): Promise<IpLink[]> {
  return JSON.parse(runInOk(netns, ['ip', '-j', '-d', 'addr', 'show'])) as IpLink[];
}

export async function listRoutes(netns?: string, family: '-4' | '-6' = '-4'): Promise<IpRoute[]> {
  return JSON.parse(runInOk(netns, ['ip', '-j', family, 'route', 'show'])) as IpRoute[];
}

/** Runs `ip -batch -`; throws with the failing command named. */
export async function batch(lines: string[], netns?: string): Promise<void> {
  batchSync(lines, netns);
}

function batchSync(lines: string[], netns?: string): void {
  if (lines.length === 0) return;
  const r = runIn(netns, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
  if (r.exitCode !== 0) {
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const line = m ? lines[Number(m[1]) - 1] : undefined;
    const why = r.stderr.replace(/Command failed -:\d+\s*/, '').trim();
    throw new Error(line ? `ip ${line}: ${why}` : `ip -batch: ${why}`);
  }
}

export async function deleteLink(name: string, netns?: string): Promise<boolean> {
  const r = runIn(netns, ['ip', 'link', 'del', name]);
  if (r.exitCode === 0) return true;
  if (notFound(r.stderr)) return false;
  throw new ExecError(['ip', 'link', 'del', name], r);
}

/**
 * Sets sysctls ('/'-separated keys, so dots in interface names survive), then
 * runs an ip batch, inside `netns`: by setns(2) when FFI is there (no extra
 * process), else through nsenter.
 */
export async function configureInNetns(netns: string, sysctls: Record<string, string>, lines: string[]): Promise<void> {
  const direct = inNetns(netns, () => {
    for (const [k, v] of Object.entries(sysctls)) writeFileSync(`/proc/sys/${k}`, v);
    batchSync(lines);
  });
  if (direct) return;
  const kv = Object.entries(sysctls).map(([k, v]) => `${k}=${v}`);
  if (kv.length) await runOk(['nsenter', `--net=${netns}`, 'sysctl', '-q', '-w', ...kv]);
  batchSync(lines, netns);
}
