// The agent's kernel: the plugins' (ip-kernel.ts) with the node's egress
// masquerade, which only the agent manages. Its own module, so the CNI
// binaries never load the egress code.
import { egressMasq } from './egress-masq.ts';
import { IpKernel } from './ip-kernel.ts';
import type { AgentKernel, EgressMasq, MasqBackendChoice } from './kernel.ts';

export class AgentIpKernel extends IpKernel implements AgentKernel {
  egressMasq(backend: MasqBackendChoice): EgressMasq {
    return egressMasq(backend);
  }
}
