// The agent's egress masquerade, in the backend the node uses (the Go
// plugin's choice, masq-detect.ts) or the one asked for. Only the agent loads
// this: the CNI binaries never masquerade a node's egress.
import type { EgressMasq, MasqBackendChoice } from './kernel.ts';
import { defaultBackend, type MasqBackend, onPath } from './masq-detect.ts';
import { iptablesEgressMasq } from './masq-iptables-egress.ts';
import { nftablesEgressMasq } from './masq-nftables-egress.ts';
import { BACKENDS, onEveryBackend } from './masq.ts';

const EGRESS: Record<MasqBackend, EgressMasq> = { iptables: iptablesEgressMasq, nftables: nftablesEgressMasq };

// The agent asks for its egress masquerade on every sync: the backend is
// decided once per process, and the other backend's rules (from a run with
// another backend) are removed at the first sync.
let autoBackend: MasqBackend | undefined;
let otherRemoved = false;

/** The backend `choice` means on this node. */
export function resolveBackend(choice: MasqBackendChoice): MasqBackend {
  if (choice !== 'auto') return choice;
  autoBackend ??= defaultBackend();
  return autoBackend;
}

export function egressMasq(choice: MasqBackendChoice): EgressMasq {
  const mine = resolveBackend(choice);
  return {
    sync(family, podCIDRs, noMasq) {
      if (!otherRemoved) {
        otherRemoved = true;
        try {
          onEveryBackend((b) => {
            if (b.name !== mine) EGRESS[b.name].remove();
          });
        } catch {
          // a leftover the other backend cannot remove is no reason to stop masquerading here
        }
      }
      return EGRESS[mine].sync(family, podCIDRs, noMasq);
    },
    remove: () => onEveryBackend((b) => EGRESS[b.name].remove()),
    describe: () => EGRESS[mine].describe(),
  };
}

/** What each installed backend holds of the agent's egress masquerade now, for `flatnet status`. */
export function describeEgress(): string[] {
  return BACKENDS.filter((b) => onPath(b.tool)).map((b) => {
    try {
      return EGRESS[b.name].describe();
    } catch (e) {
      return `${b.name}: cannot read (${(e as Error).message.split('\n')[0]})`;
    }
  });
}
