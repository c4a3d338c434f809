// Throw-away network namespaces for tests, made and removed with zx. Every
// name starts with "fnt-" plus a random tag, so a test only ever touches
// namespaces it created; removing a namespace removes every bridge, veth,
// address, route and iptables rule inside it.
import { randomBytes } from 'node:crypto';
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

export interface Netns {
  name: string;
  path: string;
}

const made = new Set<string>();

export async function createNetns(role: string): Promise<Netns> {
  const name = `fnt-${randomBytes(3).toString('hex')}-${role}`.slice(0, 40);
  await $`ip netns add ${name}`;
  made.add(name);
  await $`ip -n ${name} link set lo up`;
  return { name, path: `/var/run/netns/${name}` };
}

export async function deleteNetns(ns: Netns): Promise<void> {
  await $`ip netns del ${ns.name}`.nothrow();
  made.delete(ns.name);
}

/** Removes every namespace this process made; call from afterAll/afterEach. */
export async function deleteAllNetns(): Promise<void> {
  for (const name of [...made]) await deleteNetns({ name, path: '' });
}

export async function inNs(ns: Netns, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await $`ip netns exec ${ns.name} ${argv}`.nothrow();
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export async function ipJson<T = any>(ns: Netns, args: string[]): Promise<T> {
  const r = await inNs(ns, ['ip', '-j', ...args]);
  return JSON.parse(r.stdout || '[]') as T;
}

export const isRoot = (): boolean => process.getuid?.() === 0;
