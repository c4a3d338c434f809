// Logging for short-lived CNI processes. stdout is the result channel, so pino
// writes synchronously to stderr (or FLATNET_LOG_FILE) and is only loaded when
// something at or above FLATNET_LOG_LEVEL (default "error") is logged: most
// ADDs log nothing and should not pay for loading a logger.
import type { Logger } from 'pino';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = Exclude<keyof typeof LEVELS, 'silent'>;

let logger: Logger | undefined;

function threshold(env: NodeJS.ProcessEnv): number {
  const name = (env.FLATNET_LOG_LEVEL ?? 'error') as keyof typeof LEVELS;
  return LEVELS[name] ?? LEVELS.error;
}

export function enabled(level: Level, env: NodeJS.ProcessEnv = process.env): boolean {
  return LEVELS[level] >= threshold(env);
}

export async function getLogger(env: NodeJS.ProcessEnv = process.env): Promise<Logger> {
  if (logger) return logger;
  const { pino } = await import('pino');
  const dest = env.FLATNET_LOG_FILE ? pino.destination({ dest: env.FLATNET_LOG_FILE, sync: true, mkdir: true }) : pino.destination({ dest: 2, sync: true });
  logger = pino({ name: 'flatnet', level: env.FLATNET_LOG_LEVEL ?? 'error' }, dest);
  return logger;
}

export async function log(level: Level, obj: Record<string, unknown>, msg: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!enabled(level, env)) return;
  (await getLogger(env))[level](obj, msg);
}
