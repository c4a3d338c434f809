// The CNI contract adapter: reads CNI_* and stdin, validates them exactly as
// Go's pkg/skel does, dispatches to a verb handler, and prints the result or
// the error object. Handlers never see raw env or write to stdout.
import { validateContainerId, validateNetworkName } from './args.ts';
import { answerAs, CniError, ErrorCode, toCniError } from './errors.ts';
import { getKey, isObject } from './json.ts';
import { logVerb, type VerbLog, verbLogSettings, type VerbOutcome } from './verb-log.ts';
import type { CmdArgs, NetConfBase, Result } from './types.ts';
import { assertSupported, compareVersions, convertResult, CURRENT_VERSION, SUPPORTED_VERSIONS } from './version.ts';
import { configureLog, log, logSettingsFromEnv } from '../log.ts';
import { type IfName, parseIfName, utf8Length } from '../net/names.ts';
import { platform } from '../platform/index.ts';
import { isOwnNetns } from '../sys/netns.ts';
import { mark, profileLine, startProfile } from '../profile.ts';

export interface PluginFuncs {
  add(args: CmdArgs, conf: NetConfBase): Promise<Result>;
  del(args: CmdArgs, conf: NetConfBase): Promise<void>;
  check(args: CmdArgs, conf: NetConfBase): Promise<void>;
  status(args: CmdArgs, conf: NetConfBase): Promise<void>;
  gc(args: CmdArgs, conf: NetConfBase): Promise<void>;
}

export interface Io {
  env: NodeJS.ProcessEnv;
  readStdin(): string;
  stdout(s: string): void;
  stderr(s: string): void;
  /** Records one run in the node's plugin log (verb-log.ts). */
  logVerb(settings: VerbLog, outcome: VerbOutcome): void;
}

const VERBS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
type Verb = (typeof VERBS)[number];

// Which variables each verb needs, as Go's skel (CNI_PATH too: delegation needs it).
const REQUIRED: Record<Verb, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

// Minimum config version per verb (SPEC: CHECK since 0.4.0, STATUS/GC since 1.1.0).
const MIN_VERSION: Partial<Record<Verb, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

// Real configs are a few KiB; a bound keeps a runaway producer from making us
// parse gigabytes.
export const MAX_STDIN_BYTES = 4 * 1024 * 1024;

export function cmdArgsFromEnv(env: NodeJS.ProcessEnv, stdin: string): CmdArgs {
  const command = env.CNI_COMMAND ?? '';
  if (!(VERBS as readonly string[]).includes(command)) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${command}`, `CNI_COMMAND must be one of ${VERBS.join(', ')}`);
  }
  const missing = REQUIRED[command as Verb].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `required env variables [${missing.join(',')}] missing`);
  }
  return {
    command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName: (env.CNI_IFNAME ?? '') as IfName, // validated in invoke() for the verbs that use it
    args: env.CNI_ARGS ?? '',
    path: env.CNI_PATH ?? '',
    stdin,
    env,
  };
}

/** Decodes stdin into the common config keys and applies skel's checks. */
export function decodeConf(stdin: string, command: string): NetConfBase {
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count bytes only when the bound can be near.
  const size = stdin.length * 3 > MAX_STDIN_BYTES ? utf8Length(stdin) : 0;
  if (size > MAX_STDIN_BYTES) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `network config is ${size} bytes; the limit is ${MAX_STDIN_BYTES}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `error unmarshall network config: ${(e as Error).message}`, 'stdin must hold the network config as JSON');
  }
  if (!isObject(raw)) throw new CniError(ErrorCode.DecodingFailure, 'error unmarshall network config: not a JSON object');
  // Keys as Go decodes them, case-insensitively: {"Name": …} is the name.
  const version = getKey(raw, 'cniVersion') ?? '0.1.0';
  const name = getKey(raw, 'name');
  const prevResult = getKey(raw, 'prevResult');
  if (typeof version !== 'string') throw new CniError(ErrorCode.DecodingFailure, `error unmarshall network config: cniVersion must be a string, got ${JSON.stringify(version)}`);
  if (name !== undefined && name !== null && typeof name !== 'string') throw new CniError(ErrorCode.InvalidNetworkConfig, `network name must be a string, got ${JSON.stringify(name)}`);
  validateNetworkName(typeof name === 'string' ? name : '');
  assertSupported(version);
  const min = MIN_VERSION[command as Verb];
  if (min && compareVersions(version, min) < 0) {
    throw new CniError(ErrorCode.IncompatibleCniVersion, `config version does not allow ${command}`, `${command} needs cniVersion ${min} or later; the config has "${version}"`);
  }
  const conf: NetConfBase = { ...raw, cniVersion: version, name: name as string };
  // Go reads a null prevResult as none.
  if (prevResult !== undefined && prevResult !== null) conf.prevResult = prevResult;
  else delete conf.prevResult;
  return conf;
}

// A stale /proc/<pid>/ns/net can point at the plugin's own namespace; acting on
// it would reconfigure the node (plugins#714). Go's skel refuses it; so do we.
function checkNetns(args: CmdArgs): void {
  if (!args.netns) return;
  const override = (args.env.CNI_NETNS_OVERRIDE ?? '').toLowerCase();
  // A missing netns is each verb's own business (DEL tolerates it).
  if (answerAs(ErrorCode.InvalidEnvironmentVariables, () => isOwnNetns(args.netns)) && override !== '1' && override !== 'true') {
    throw new CniError(ErrorCode.InvalidNetNS, "plugin's netns and netns from CNI_NETNS should not be the same", `CNI_NETNS=${args.netns} is the namespace the plugin runs in; pass the container's namespace`);
  }
}

/** Runs one verb on the decoded config, after the checks every verb with a container gets. */
async function invokeDecoded(funcs: PluginFuncs, args: CmdArgs, conf: NetConfBase): Promise<Result | undefined> {
  if (args.command === 'ADD' || args.command === 'DEL' || args.command === 'CHECK') {
    validateContainerId(args.containerId);
    answerAs(ErrorCode.InvalidEnvironmentVariables, () => parseIfName(args.ifName));
    checkNetns(args);
  }
  switch (args.command) {
    case 'ADD':
      return funcs.add(args, conf);
    case 'DEL':
      return void (await funcs.del(args, conf));
    case 'CHECK':
      return void (await funcs.check(args, conf));
    case 'STATUS':
      return void (await funcs.status(args, conf));
    case 'GC':
      return void (await funcs.gc(args, conf));
    default:
      throw new CniError(ErrorCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${args.command}`);
  }
}

function versionInfo(): string {
  return `${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`;
}

export function aboutText(about: string): string {
  return `${about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
}

/** The whole plugin main: returns the exit code. */
export async function dispatch(funcs: PluginFuncs, about: string, io: Io): Promise<number> {
  startProfile(io.env);
  try {
    return await dispatchVerb(funcs, about, io);
  } finally {
    const p = profileLine();
    if (p) io.stderr(p);
  }
}

async function dispatchVerb(funcs: PluginFuncs, about: string, io: Io): Promise<number> {
  configureLog(logSettingsFromEnv(io.env));
  if (!io.env.CNI_COMMAND) {
    io.stderr(aboutText(about));
    return 0;
  }
  if (io.env.CNI_COMMAND === 'VERSION') {
    io.stdout(versionInfo());
    return 0;
  }
  const t0 = platform.now();
  let args: CmdArgs | undefined;
  let conf: NetConfBase | undefined;
  let result: Result | undefined;
  let error: CniError | undefined;
  try {
    // Env errors come before any stdin is read, as in Go.
    args = cmdArgsFromEnv(io.env, '');
    args.stdin = io.readStdin();
    mark('stdin');
    conf = decodeConf(args.stdin, args.command);
    result = await invokeDecoded(funcs, args, conf);
    if (result) io.stdout(JSON.stringify(convertResult(result, conf.cniVersion), null, 4));
    return 0;
  } catch (e) {
    error = toCniError(e);
    await log('error', { command: io.env.CNI_COMMAND, containerId: io.env.CNI_CONTAINERID, code: error.code, details: error.details }, error.message);
    io.stdout(JSON.stringify(error, null, 4));
    return 1;
  } finally {
    if (args) io.logVerb(verbLogSettings(conf ?? settingsOfRefused(args.stdin)), { args, ...(result ? { result } : {}), ...(error ? { error } : {}), ms: platform.now() - t0 });
  }
}

/** A refused config's own JSON, for its logFile: the refusal belongs in the log its network names. */
function settingsOfRefused(stdin: string | undefined): unknown {
  try {
    return stdin ? JSON.parse(stdin) : undefined;
  } catch {
    return undefined;
  }
}

/** stdin, read no further than the bound: a runaway producer costs at most that. */
export function readStdinBounded(): string {
  try {
    return platform.readStdin(MAX_STDIN_BYTES);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EFBIG') throw new CniError(ErrorCode.InvalidNetworkConfig, `network config is larger than ${MAX_STDIN_BYTES} bytes`, 'real configs are a few KiB: check what the runtime pipes to the plugin');
    throw new CniError(ErrorCode.IoFailure, `error reading from stdin: ${(e as Error).message}`);
  }
}

export async function runPlugin(funcs: PluginFuncs, about: string): Promise<never> {
  let code: number;
  try {
    code = await dispatch(funcs, about, {
      env: process.env,
      readStdin: readStdinBounded,
      stdout: (s) => process.stdout.write(s),
      stderr: (s) => process.stderr.write(s),
      logVerb,
    });
  } catch (e) {
    // dispatch turns every handler error into a CNI error; this is for a bug
    // in that path. Exiting 0 with nothing on stdout (QuickJS's way with a
    // rejected promise) would read as success to the runtime.
    process.stdout.write(JSON.stringify(new CniError(ErrorCode.Internal, `flatnet internal error: ${(e as Error)?.message ?? String(e)}`), null, 4));
    code = 1;
  }
  // Flush stdout before exiting; a pipe write can be asynchronous.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
