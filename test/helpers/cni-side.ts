// One "side" of a differential test: a plugin pair (flatnet + flatnet-ipam, or
// Go bridge + host-local) with its own node namespace, pod namespace and
// dataDir, and a runner that gives it exactly the environment a case names
// (variables can be absent, empty, or hold newlines) and its stdin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createNetns, deleteNetns, type Netns } from './netns.ts';
import { BIN_DIR, GO_DIR } from './plugin.ts';

export type Flavour = 'fn' | 'go';

export interface Side {
  flavour: Flavour;
  node: Netns;
  pod: Netns;
  /** The dataDir given to the IPAM; leases are under <data>/<network>. */
  data: string;
  /** A scratch directory of this side (files, symlinks a case needs). */
  tmp: string;
  bin: string;
  bridgeType: string;
  ipamType: string;
  /** The last successful ADD result of the setup step, for prevResult cases. */
  prev?: any;
  /** The setup's ADDs (environment and stdin), so a test can DEL them again. */
  added: Array<{ env: Record<string, string>; stdin: string }>;
}

export interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The CNI error object, when the call printed one. */
  error?: { code: number; msg: string; details?: string };
  result?: any;
}

export async function makeSide(flavour: Flavour): Promise<Side> {
  const node = await createNetns(`${flavour}n`);
  const pod = await createNetns(`${flavour}p`);
  const tmp = mkdtempSync(join(tmpdir(), `fnt-diff-${flavour}-`));
  return {
    flavour,
    node,
    pod,
    data: join(tmp, 'data'),
    tmp,
    bin: flavour === 'fn' ? join(BIN_DIR, 'flatnet') : join(GO_DIR, 'bridge'),
    bridgeType: flavour === 'fn' ? 'flatnet' : 'bridge',
    ipamType: flavour === 'fn' ? 'flatnet-ipam' : 'host-local',
    added: [],
  };
}

export async function dropSide(s: Side): Promise<void> {
  await deleteNetns(s.node);
  await deleteNetns(s.pod);
  rmSync(s.tmp, { recursive: true, force: true });
}

/** The environment of a normal call; a case overrides keys, `undefined` removes one. */
export function defaultEnv(s: Side, command: string): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: s.pod.path, CNI_IFNAME: 'eth0', CNI_ARGS: '', CNI_PATH: `${BIN_DIR}:${GO_DIR}` };
}

/** Runs `bin` (default the side's plugin) inside the side's node namespace. */
export async function call(s: Side, env: Record<string, string | undefined>, stdin: string | Buffer, opts: { bin?: string; cwd?: string } = {}): Promise<Outcome> {
  const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const r = await execa('ip', ['netns', 'exec', s.node.name, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...vars, opts.bin ?? s.bin], {
    input: stdin,
    reject: false,
    cwd: opts.cwd ?? '/',
    maxBuffer: 64 * 1024 * 1024,
    // A plugin that blocks (on a FIFO given as CNI_NETNS, say) is a finding, not a hung test.
    timeout: 30_000,
  });
  const o: Outcome = { exitCode: r.exitCode ?? 1, stdout: r.timedOut ? `timed out after 30 s: ${r.stdout}` : r.stdout, stderr: r.stderr };
  let json: any;
  try {
    json = r.stdout ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  if (r.exitCode !== 0 && json && typeof json.code === 'number') o.error = json;
  else if (r.exitCode === 0) o.result = json;
  return o;
}

/** The network config both sides start from (spec 1.0.0, which Debian's Go plugins support). */
export function baseConf(s: Side, over: { ipam?: object; version?: string; name?: string } = {}): Record<string, any> {
  return {
    cniVersion: over.version ?? '1.0.0',
    name: over.name ?? 'fntnet',
    type: s.bridgeType,
    bridge: 'fnbr0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: s.ipamType, ranges: [[{ subnet: '10.250.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: s.data, ...over.ipam },
  };
}

/** A plain ADD with the base config (or `conf`), as a setup step; throws when it fails. */
export async function addOk(s: Side, over: Record<string, string> = {}, conf?: object): Promise<any> {
  const env = { ...defaultEnv(s, 'ADD'), ...over };
  const stdin = JSON.stringify(conf ?? baseConf(s));
  const o = await call(s, env, stdin);
  if (o.exitCode !== 0) throw new Error(`${s.flavour} setup ADD failed: ${o.stdout} ${o.stderr}`);
  s.prev = o.result;
  s.added.push({ env, stdin });
  return o.result;
}
