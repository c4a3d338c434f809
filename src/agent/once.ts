// Log lines that would otherwise repeat on every resync (a skipped peer, a
// failing route, an unreadable nodes file): each is logged when it appears
// and once more when it goes away, not every time it is still true.
import { log } from '../log.ts';

export class OncePerChange {
  private current = new Map<string, string>();

  /**
   * `now` maps a key (what the message is about) to its message. Logs the
   * messages that are new or changed at `level`, and at info those whose key
   * is gone, then remembers `now`.
   */
  async update(now: Map<string, string>, level: 'warn' | 'error', fields: (key: string) => Record<string, unknown>, cleared: (key: string, was: string) => string): Promise<void> {
    for (const [k, msg] of now) if (this.current.get(k) !== msg) await log(level, fields(k), msg);
    for (const [k, was] of this.current) if (!now.has(k)) await log('info', fields(k), cleared(k, was));
    this.current = now;
  }
}
