// A linear transaction for ADD: steps run in the order written; each may
// leave an undo; when a later step fails, the undos run in reverse and the
// first error is what the caller sees. An undo that fails is logged with its
// step's name, never dropped silently: the node may hold a leftover then.
import { log } from '../src/log.ts';
import { mark } from '../src/profile.ts';

type Undo = () => unknown;

export class Txn {
  private readonly undos: { step: string; undo: Undo }[] = [];

  /** Runs one named step (marked for FLATNET_PROFILE). */
  async step<T>(name: string, run: () => T | Promise<T>): Promise<T> {
    const out = await run();
    mark(name);
    return out;
  }

  /**
   * Registers what undoes `step`. Registered before a step whose failure can
   * leave part of its effect (a batch that fails half-way may have made the
   * veth), after one that is all or nothing (an IPAM lease).
   */
  undo(step: string, undo: Undo): void {
    this.undos.push({ step, undo });
  }

  /** Undoes, newest first, what the steps so far did. */
  async rollback(cause: unknown): Promise<void> {
    for (const { step, undo } of this.undos.splice(0).reverse()) {
      try {
        await undo();
      } catch (e) {
        await log('error', { step, error: (e as Error)?.message ?? String(e), cause: (cause as Error)?.message ?? String(cause) }, 'ADD failed and undoing one of its steps failed too: this may be left on the node');
      }
    }
  }
}
