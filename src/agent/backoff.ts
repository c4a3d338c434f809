// Retry delays: doubling from `baseMs` up to `capMs`, each drawn from the
// upper half of its step ("equal jitter"), so agents restarted together do
// not hit the API server in step and a retry never comes sooner than half
// the step.
export class Backoff {
  private n = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const step = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.n, 30));
    this.n++;
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  reset(): void {
    this.n = 0;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.n;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
