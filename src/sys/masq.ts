// Which masquerade backend serves a node. Only iptables so far.
import type { EgressMasq, MasqBackendChoice, PodMasq } from './kernel.ts';
import { iptablesEgressMasq, iptablesPodMasq } from './masq-iptables.ts';

export function podMasq(_backend: MasqBackendChoice): PodMasq {
  return iptablesPodMasq;
}

export function egressMasq(_backend: MasqBackendChoice): EgressMasq {
  return iptablesEgressMasq;
}
