// The slice of pino that src/log.ts uses, for QuickJS: the same NDJSON lines
// (level, time, pid, hostname, name, fields, msg), written synchronously to
// stderr or appended to FLATNET_LOG_FILE.
import * as os from 'os';
import * as sys from 'flatnet_sys';
import { mkdirSync } from './fs.ts';
import { dirname } from './path.ts';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;
type Dest = { write(line: string): void };
type LogFn = (obj: Record<string, unknown>, msg: string) => void;

function destination(opts: { dest: number | string; mkdir?: boolean }): Dest {
  const fd = opts.dest;
  if (typeof fd === 'number') return { write: (l) => void (fd === 1 ? process.stdout.write(l) : fd === 2 ? process.stderr.write(l) : sys.writeFd(fd, l)) };
  const path = fd;
  if (opts.mkdir) mkdirSync(dirname(path), { recursive: true });
  return {
    write: (line) => void sys.writeFile(path, line, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
  };
}

function pinoImpl(opts: { name?: string; level?: string; timestamp?: () => string }, dest: Dest): Record<Level, LogFn> {
  const min = LEVELS[(opts.level ?? 'info') as Level] ?? LEVELS.info;
  const hostname = (sys.readFile('/proc/sys/kernel/hostname')[0] ?? '').trim();
  const make = (level: Level): LogFn => (obj, msg) => {
    if (LEVELS[level] < min) return;
    dest.write(`${JSON.stringify({ level: LEVELS[level], time: opts.timestamp ? new Date().toISOString() : Date.now(), pid: process.pid, hostname, name: opts.name, ...obj, msg })}\n`);
  };
  return { trace: make('trace'), debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error'), fatal: make('fatal') };
}

// Only the presence of a timestamp function is read: the shim's time is ISO 8601 then.
const stdTimeFunctions = { isoTime: (): string => `,"time":"${new Date().toISOString()}"` };

export const pino = Object.assign(pinoImpl, { destination, stdTimeFunctions });
export default pino;
