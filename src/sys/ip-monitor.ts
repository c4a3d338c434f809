// KernelEvents from `ip -o monitor`: one line per link, address, route or
// nexthop change in this namespace, read from a child process. The agent
// only needs to know that something changed (its sync reads the state
// itself), so a line is reduced to its kind. The child runs under
// `setpriv --pdeathsig KILL` where util-linux has it, so an agent killed
// with -9 does not leave a monitor behind; if the monitor dies, it is
// restarted (with a growing delay) and reported as a change, since events
// may have been missed meanwhile.
import { type ChildProcess, spawn } from 'node:child_process';
import { log } from '../log.ts';
import type { KernelEvents } from './kernel.ts';

const OBJECTS = ['link', 'address', 'route', 'nexthop'];

/** The kind of change an `ip -o monitor label` line reports: "[ROUTE]10.0.0.0/24 ..." -> "route". */
export function eventKind(line: string): string | undefined {
  const m = /^\[([A-Z]+)\]/.exec(line);
  return m ? m[1]!.toLowerCase() : undefined;
}

export class IpMonitor implements KernelEvents {
  constructor(
    private readonly argv: string[] = ['ip', '-o', 'monitor', 'label', ...OBJECTS],
    private readonly maxRestartMs = 30_000,
  ) {}

  watch(onChange: (what: string) => void): () => void {
    let child: ChildProcess | undefined;
    let stopped = false;
    let restartMs = 500;
    let timer: NodeJS.Timeout | undefined;
    let usePdeathsig = true;
    const startChild = (): void => {
      const argv = usePdeathsig ? ['setpriv', '--pdeathsig', 'KILL', '--', ...this.argv] : this.argv;
      const startedAt = Date.now();
      const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      child = c;
      let buf = '';
      let stderr = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          const kind = eventKind(l);
          if (kind) onChange(kind);
        }
      });
      c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
      c.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' && usePdeathsig) {
          usePdeathsig = false; // no setpriv here: the monitor outlives a killed agent until its next write
          child = undefined;
          if (!stopped) startChild();
          return;
        }
        void log('error', {}, `cannot start ${argv.join(' ')}: ${e.message}`);
      });
      c.on('exit', (code, signal) => {
        if (stopped || child !== c) return;
        child = undefined;
        if (Date.now() - startedAt > 60_000) restartMs = 500;
        void log('warn', { code, signal }, `kernel event monitor exited (${stderr.trim() || 'no message'}); restarting in ${restartMs} ms`);
        timer = setTimeout(() => {
          if (stopped) return;
          startChild();
          onChange('monitor restarted');
        }, restartMs);
        restartMs = Math.min(this.maxRestartMs, restartMs * 2);
      });
    };
    startChild();
    return () => {
      stopped = true;
      clearTimeout(timer);
      child?.kill('SIGTERM');
    };
  }
}
