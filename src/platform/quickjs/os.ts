// node:os: only tmpdir().
export const tmpdir = (): string => (process.env.TMPDIR || '/tmp').replace(/\/+$/, '') || '/';
