// Runs a CNI plugin binary the way a runtime does: inside the namespace that
// plays the node, with CNI_* in the environment and the config on stdin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Netns } from './netns.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN_DIR = join(ROOT, 'dist', 'bin');
export const GO_DIR = '/usr/lib/cni';
export const CNI_PATH = `${BIN_DIR}:${GO_DIR}`;
export const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export interface CniCall {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
  extraEnv?: Record<string, string>;
  /** Kill the plugin after this long (a hang then shows as a failed call, not a stuck test). */
  timeoutMs?: number;
  /**
   * Give the plugin a pipe(2) as stdout, as Go runtimes do (Node's child
   * stdio is a socketpair, on which reopening /dev/stdout fails).
   */
  pipeStdout?: boolean;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: any;
}

export async function runPlugin(node: Netns, binary: string, conf: object | string, call: CniCall): Promise<CniOutcome> {
  const env: Record<string, string> = {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifName ?? 'eth0',
    CNI_ARGS: call.args ?? '',
    CNI_PATH: call.path ?? CNI_PATH,
    ...call.extraEnv,
  };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const run = call.pipeStdout ? ['bash', '--norc', '-o', 'pipefail', '-c', '"$0" | cat', binary] : [binary];
  const r = await execa('ip', ['netns', 'exec', node.name, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...envArgs, ...run], {
    input: typeof conf === 'string' ? conf : JSON.stringify(conf),
    reject: false,
    ...(call.timeoutMs ? { timeout: call.timeoutMs } : {}),
  });
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, json: jsonOf(r.stdout) };
}

/** A plugin's stdout as JSON; undefined when it printed nothing or not JSON. */
export function jsonOf(text: string): any {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export const flatnet = join(BIN_DIR, 'flatnet');
export const flatnetIpam = join(BIN_DIR, 'flatnet-ipam');

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A bridge-plugin config; `flavour` picks flatnet+flatnet-ipam or Go bridge+host-local. */
export function bridgeConf(opts: { version?: string; name?: string; subnet?: string; dataDir: string; flavour?: 'flatnet' | 'go'; extra?: object; ipamExtra?: object }): any {
  const go = opts.flavour === 'go';
  return {
    cniVersion: opts.version ?? '1.0.0',
    name: opts.name ?? 'fntnet',
    type: go ? 'bridge' : 'flatnet',
    bridge: 'fnbr0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: go ? 'host-local' : 'flatnet-ipam', ranges: [[{ subnet: opts.subnet ?? '10.250.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: opts.dataDir, ...opts.ipamExtra },
    // The plugin's own log goes beside the test's data, not to the node's /var/log.
    ...(go ? {} : { logFile: join(opts.dataDir, 'cni.log') }),
    ...opts.extra,
  };
}
