// The platform of this build. The QuickJS build (scripts/build.mjs) replaces
// this module with quickjs/index.ts.
export { platform } from './node/index.ts';
export type { Env, Platform, RunResult } from './types.ts';
