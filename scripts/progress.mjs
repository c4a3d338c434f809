// Progress for the long steps of setup and build (apt-get, npm install,
// the QuickJS compile, the Bun compile): a line when a step starts, what it
// is doing while it runs, and how long it took. Plain Node, no dependency:
// scripts/setup.mjs uses it before node_modules exists. Everything goes to
// stderr, so a script's stdout stays its result.
import { spawn } from 'node:child_process';

const say = (s) => process.stderr.write(`${s}\n`);

/**
 * Runs `cmd args`; resolves when it exits 0, rejects otherwise.
 *   name      short name for the progress lines ("QuickJS")
 *   what      what the step does, for its first line ("compiling QuickJS (once)")
 *   inherit   the command's own output goes to the terminal (apt-get, npm);
 *             otherwise it is kept and printed only if the command fails
 *   progress  () => string: where the step is ("5 of 7 object files"),
 *             polled every second
 *   every     seconds between "still running" lines while nothing changes
 *             (0: none, for commands that print their own progress)
 * On a terminal the progress line is rewritten in place; in a log (CI) it is
 * a new line whenever it changes and every `every` seconds.
 */
export function runStep({ name, what = name, inherit = false, progress, every = 10, tty = Boolean(process.stderr.isTTY) && !inherit, env, cwd }, cmd, args) {
  const t0 = Date.now();
  const secs = () => Math.round((Date.now() - t0) / 1000);
  say(`flatnet: ${what} ...`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
    let kept = '';
    child.stdout?.on('data', (b) => (kept += b));
    child.stderr?.on('data', (b) => (kept += b));
    let last = '';
    let lastAt = Date.now();
    let onLine = false;
    const tick = () => {
      const now = progress?.() || '';
      if (tty) {
        process.stderr.write(`\r\x1b[K  ${name}: ${now || 'running'} (${secs()} s)`);
        onLine = true;
      } else if (now !== last || (every > 0 && Date.now() - lastAt >= every * 1000)) {
        say(`  ${name}: ${now || 'still running'} (${secs()} s)`);
        lastAt = Date.now();
      }
      last = now;
    };
    const timer = setInterval(tick, 1000);
    let finished = false;
    const done = (err) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      if (onLine) process.stderr.write('\r\x1b[K');
      if (err) {
        if (kept) process.stderr.write(kept.endsWith('\n') ? kept : `${kept}\n`);
        say(`flatnet: ${name} failed after ${secs()} s`);
        reject(err);
      } else {
        say(`flatnet: ${name} done in ${secs()} s`);
        resolve(kept);
      }
    };
    child.on('error', (e) => done(e));
    child.on('close', (code, signal) => (code === 0 ? done() : done(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? code}`))));
  });
}
