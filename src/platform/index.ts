// The platform of this build. The QuickJS build (scripts/build.mjs) replaces
// this module with quickjs/index.ts; both implementations are checked against
// Platform with `satisfies`, and shared code sees only the interface.
import { platform as node } from './node/index.ts';
import type { Platform } from './types.ts';

export const platform: Platform = node;
export type { Env, LinkSummary, PipedRun, Platform, RunResult } from './types.ts';
