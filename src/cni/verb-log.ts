// One line per plugin run in a per-node log file, so "what happened to this
// pod" has an answer on the node: command, container ID, netns, ifname,
// addresses, result code, duration. Where and how much are plugin config
// keys, as Multus names them: "logFile", "logLevel" ("info" by default: one
// line per run; "error": failures only; "silent": none) and "logOptions"
// {"maxSize": MiB, "maxBackups": N}.
import { appendLogLine, type LogFile } from '../sys/log-file.ts';
import type { CniError } from './errors.ts';
import { getKey, isObject } from './json.ts';
import type { CmdArgs, Result } from './types.ts';

export const DEFAULT_LOG_FILE = '/var/log/flatnet/cni.log';

export interface VerbLog {
  file: LogFile;
  level: 'info' | 'error' | 'silent';
}

const num = (v: unknown, dflt: number, min: number, max: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : dflt);

/** The log settings of a config; a value that does not make sense falls back to its default rather than failing the pod. */
export function verbLogSettings(conf: unknown): VerbLog {
  const o = isObject(conf) ? conf : {};
  const path = getKey(o, 'logFile');
  const level = getKey(o, 'logLevel');
  const opts = getKey(o, 'logOptions');
  const lo = isObject(opts) ? opts : {};
  return {
    file: {
      path: typeof path === 'string' && path.startsWith('/') && !path.includes('\0') ? path : DEFAULT_LOG_FILE,
      maxBytes: Math.round(num(getKey(lo, 'maxSize'), 10, 1 / 1024, 1024) * 1024 * 1024),
      backups: num(getKey(lo, 'maxBackups'), 1, 0, 20),
    },
    // The verb log has one line per run: debug and trace add nothing to it.
    level: level === 'error' || level === 'silent' ? level : 'info',
  };
}

export interface VerbOutcome {
  args: CmdArgs;
  result?: Result;
  error?: CniError;
  ms: number;
}

export function verbLogLine(o: VerbOutcome): string {
  const line: Record<string, unknown> = {
    time: new Date().toISOString(),
    level: o.error ? 'error' : 'info',
    command: o.args.command,
    containerId: o.args.containerId,
    netns: o.args.netns,
    ifName: o.args.ifName,
  };
  const addrs = o.result?.ips?.map((ip) => ip.address);
  if (addrs?.length) line.addresses = addrs;
  line.code = o.error?.code ?? 0;
  if (o.error) line.msg = o.error.message;
  line.ms = Math.round(o.ms * 100) / 100;
  return `${JSON.stringify(line)}\n`;
}

export function logVerb(settings: VerbLog, o: VerbOutcome): void {
  if (settings.level === 'silent' || (settings.level === 'error' && !o.error)) return;
  appendLogLine(settings.file, verbLogLine(o));
}
