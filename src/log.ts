// Logging. stdout is a CNI plugin's result channel, so pino writes
// synchronously to stderr (or a file) and is only loaded when something at
// or above the level is logged: most ADDs log nothing and should not pay for
// loading a logger. The level and file come from FLATNET_LOG_LEVEL and
// FLATNET_LOG_FILE unless a program sets them with configureLog.
import type { Logger } from 'pino';
import { openLogFile } from './sys/log-file.ts';

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LevelName = keyof typeof LEVELS;
type Level = Exclude<LevelName, 'silent'>;

export interface LogSettings {
  level: LevelName;
  file?: string;
}

let settings: LogSettings | undefined;
let logger: Logger | undefined;

const isLevel = (s: string | undefined): s is LevelName => s !== undefined && s in LEVELS;

/** The one reader of FLATNET_LOG_LEVEL and FLATNET_LOG_FILE: an unknown level is the default, error. */
export function logSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): LogSettings {
  const level = env.FLATNET_LOG_LEVEL;
  return { level: isLevel(level) ? level : 'error', ...(env.FLATNET_LOG_FILE ? { file: env.FLATNET_LOG_FILE } : {}) };
}

const current = (): LogSettings => settings ?? logSettingsFromEnv(process.env);

/** Sets where and how much to log, for the rest of this process. */
export function configureLog(s: LogSettings): void {
  settings = s;
  logger = undefined;
}

export function enabled(level: Level): boolean {
  return LEVELS[level] >= LEVELS[current().level];
}

// FLATNET_LOG_FILE as the plugin log: a regular file, never stdout (the result's) nor a FIFO (it would block).
function logFd(path: string): number | undefined {
  try {
    return openLogFile(path);
  } catch (e) {
    process.stderr.write(`flatnet: FLATNET_LOG_FILE: ${(e as Error).message}; logging to stderr\n`);
    return undefined;
  }
}

async function getLogger(): Promise<Logger> {
  if (logger) return logger;
  const s = current();
  const { pino } = await import('pino');
  const dest = pino.destination({ dest: (s.file && logFd(s.file)) || 2, sync: true });
  logger = pino({ name: 'flatnet', level: s.level, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return logger;
}

export async function log(level: Level, obj: Record<string, unknown>, msg: string): Promise<void> {
  if (!enabled(level)) return;
  (await getLogger())[level](obj, msg);
}
