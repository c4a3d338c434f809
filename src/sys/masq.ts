// Which masquerade backend serves a node, as the Go bridge plugin decides it
// (masq-detect.ts): iptables unless iptables is unusable and nftables is
// usable. Setup uses one backend; DEL and GC clean both, because the
// attachment may have been set up by another version or config (Go does
// the same), and a failure counts only where that backend is usable.
import type { MasqBackendChoice, PodMasq, PodMasqAttachment } from './kernel.ts';
import { iptablesUsable, type MasqBackend, nftablesUsable, onPath } from './masq-detect.ts';
import { iptablesPodMasq, iptablesTeardownByReading } from './masq-iptables.ts';
import { gcWith, nftablesPodMasq, type PodTable, readPodTable, teardownWith } from './masq-nftables.ts';

export interface Backend {
  name: MasqBackend;
  pod: PodMasq;
  /** A program whose absence means nothing of ours can be there and nothing can be removed: the backend is skipped without a process. */
  tool: string;
  usable: () => boolean;
}

export const BACKENDS: Backend[] = [
  { name: 'iptables', pod: iptablesPodMasq, tool: 'iptables-restore', usable: iptablesUsable },
  { name: 'nftables', pod: nftablesPodMasq, tool: 'nft', usable: nftablesUsable },
];
const backend = (name: MasqBackend): Backend => BACKENDS.find((b) => b.name === name)!;

/** Runs `fn` on every installed backend; errors of unusable backends are dropped, the rest thrown together. */
export function onEveryBackend(fn: (b: Backend) => void): void {
  const errors: string[] = [];
  for (const b of BACKENDS) if (onPath(b.tool)) attempt(b, () => fn(b), errors);
  if (errors.length) throw new Error(errors.join('\n'));
}

function attempt(b: Backend, fn: () => void, errors: string[]): void {
  try {
    fn();
  } catch (e) {
    if (b.usable()) errors.push(`${b.name}: ${(e as Error).message}`);
  }
}

/**
 * DEL and GC of per-pod masquerade on both backends. nftables' table is read
 * first, so nft runs while iptables works; then what it found is deleted.
 */
function podOnBothBackends(ipt: () => void, nft: (table: () => PodTable) => void): void {
  const [iptables, nftables] = [backend('iptables'), backend('nftables')];
  const table = onPath(nftables.tool) ? readPodTable() : undefined;
  const errors: string[] = [];
  if (onPath(iptables.tool)) attempt(iptables, ipt, errors);
  if (table) attempt(nftables, () => nft(table), errors);
  if (errors.length) throw new Error(errors.join('\n'));
}

/**
 * Unset backend: iptables is tried first and, when it works, that is the Go
 * choice with no probe at all. Only when it fails is the Go probe run: iptables
 * usable means Go would have failed the same way; unusable means Go takes
 * nftables (when nftables is unusable too, Go fails on iptables, and so does
 * this, with both errors).
 */
async function autoSetup(a: PodMasqAttachment): Promise<void> {
  try {
    await iptablesPodMasq.setup(a);
    return;
  } catch (e) {
    if (iptablesUsable()) throw e;
    try {
      await nftablesPodMasq.setup(a);
    } catch (n) {
      throw new Error(`neither masquerade backend works: iptables: ${(e as Error).message}; nftables: ${(n as Error).message}`);
    }
  }
}

export function podMasq(choice: MasqBackendChoice): PodMasq {
  return {
    setup: (a) => (choice === 'auto' ? autoSetup(a) : backend(choice).pod.setup(a)),
    teardown: (a) =>
      podOnBothBackends(
        // Set up in nftables: iptables most likely holds nothing of it, so it is read rather than tried.
        () => (choice === 'nftables' ? iptablesTeardownByReading(a) : iptablesPodMasq.teardown(a)),
        (table) => teardownWith(table, a),
      ),
    gc: (network, valid) =>
      podOnBothBackends(
        () => iptablesPodMasq.gc(network, valid),
        (table) => gcWith(table, network, valid),
      ),
  };
}
