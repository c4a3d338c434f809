// The slice of bun:ffi that src/platform/node uses (full bun-types would clash with @types/node).
declare module 'bun:ffi' {
  export const FFIType: { i32: number; u64: number };
  export function dlopen(
    path: string,
    symbols: Record<string, { args: number[]; returns: number }>,
  ): { symbols: Record<string, (...args: (number | bigint)[]) => number | bigint> };
}
