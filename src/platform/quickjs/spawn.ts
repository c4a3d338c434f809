// src/sys/spawn.ts for QuickJS: posix_spawn with captured output through
// flatnet_sys. A concurrent run is started at once and collected when awaited;
// the C side feeds its stdin and drains its output while it waits.
import * as sys from 'flatnet_sys';
import { commandNotFound, type RunResult } from '../../sys/exec.ts';

const envList = (env: NodeJS.ProcessEnv): string[] => Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));

function start(argv: readonly string[], input: string, env: NodeJS.ProcessEnv): number | RunResult {
  const [handle, err] = sys.spawn(argv, envList(env), input);
  if (err === 0) return handle;
  if (sys.errnoName(err) === 'ENOENT') return commandNotFound(argv[0]!);
  return { exitCode: 127, stdout: '', stderr: `${argv[0]}: cannot start: ${sys.errnoName(err)}` };
}

function collect(handle: number): RunResult {
  const [exitCode, stdout, stderr] = sys.wait(handle);
  return { exitCode, stdout, stderr };
}

export function spawnAndWait(argv: readonly string[], input: string, env: NodeJS.ProcessEnv): RunResult {
  const h = start(argv, input, env);
  return typeof h === 'number' ? collect(h) : h;
}

export function spawnConcurrently(argv: readonly string[], input: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const h = start(argv, input, env);
  if (typeof h !== 'number') return Promise.resolve(h);
  // Collected by a zero timer: QuickJS runs timers only once no promise job is
  // left, i.e. when the caller has nothing to do but wait for this result.
  return new Promise((resolve) => setTimeout(() => resolve(collect(h)), 0));
}
