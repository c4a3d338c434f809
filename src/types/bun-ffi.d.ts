// The slice of bun:ffi that src/sys/flock.ts uses (full bun-types would clash with @types/node).
declare module 'bun:ffi' {
  export const FFIType: { i32: number };
  export function dlopen(
    path: string,
    symbols: Record<string, { args: number[]; returns: number }>,
  ): { symbols: Record<string, (...args: number[]) => number> };
}
