// Step profile of one plugin run: with FLATNET_PROFILE=1 in the environment,
// mark() records how far into the run each step ended and the marks go to
// stderr as one line at exit ("ipam=2.10 bridge=2.31 …", ms). Off, a mark
// costs one comparison. scripts/profile-add.mjs aggregates many runs.
import { platform } from './platform/index.ts';

let marks: string[] | undefined;
let t0 = 0;

/** Starts profiling when the environment asks for it. */
export function startProfile(env: NodeJS.ProcessEnv): void {
  if (env.FLATNET_PROFILE !== '1') return;
  marks = [];
  t0 = platform.now();
}

export function mark(step: string): void {
  if (marks) marks.push(`${step}=${(platform.now() - t0).toFixed(2)}`);
}

/** The marks as one line, or undefined when not profiling. */
export function profileLine(): string | undefined {
  return marks ? `flatnet-profile ${marks.join(' ')}\n` : undefined;
}
