// flatnet status: what the agent last did on this node (podCIDRs, peers and
// their routes, skipped nodes with the reason) and the node's allocations.
import type { Argv } from 'yargs';
import { readConfList } from '../cni/conflist.ts';
import { AGENT_STATUS_FILE, type AgentStatus, readAgentStatus } from '../contract/agent-status.ts';
import { type AllocationRow, allocations, allocationTable } from './allocations.ts';
import { describeEgress } from '../sys/egress-masq.ts';
import { formatCidr, formatIp } from '../net/cidr.ts';
import { IpKernel } from '../sys/ip-kernel.ts';
import { type Command, fail } from './command.ts';

interface StatusArgs {
  'status-file': string;
  conflist?: string;
  json: boolean;
}

function render(doc: AgentStatus, allocs: AllocationRow[], conflist: string | undefined, masquerade: string[]): string {
  const lines = [`node      ${doc.node ?? '?'}  (updated ${doc.time})`, `podCIDRs  ${doc.podCIDRs.join(', ') || (doc.problem ? '-' : 'not assigned yet')}`, `ready     ${doc.ready}`];
  if (doc.problem) lines.push(`problem   ${doc.problem}`);
  if (doc.source) lines.push(`nodes     ${doc.source}`);
  for (const m of masquerade) lines.push(`egress    ${m}`);
  lines.push('', 'PEER                 POD CIDR              VIA                STATE');
  for (const p of doc.peers) lines.push(`${p.node.padEnd(20)} ${p.podCIDR.padEnd(21)} ${p.via.padEnd(18)} ${p.state}`);
  for (const s of doc.skipped) lines.push(`${s.node.padEnd(20)} ${'-'.padEnd(21)} ${'-'.padEnd(18)} skipped: ${s.reason}`);
  lines.push('', ...allocationTable(allocs));
  if (allocs.length === 0) lines.push(conflist ? `(none in ${conflist})` : '(no conflist written yet)');
  return `${lines.join('\n')}\n`;
}

/**
 * The agent's peers as the main table has them now: a route deleted or
 * changed since the agent's last sync (or while no agent runs) is shown so,
 * not as the file says.
 */
function peersAsInstalled(peers: AgentStatus['peers']): AgentStatus['peers'] {
  const k = new IpKernel();
  const routes = new Map([...k.routes(4), ...k.routes(6)].map((r) => [formatCidr(r.dst), r]));
  return peers.map((p) => {
    if (p.state !== 'installed') return p;
    const r = routes.get(p.podCIDR);
    if (!r) return { ...p, state: 'missing from the routing table now' };
    const via = r.via ? formatIp(r.via) : undefined;
    if (via !== p.via) return { ...p, state: `now ${via ? `via ${via}` : `on ${r.dev ?? '?'}`}${r.proto ? ` (proto ${r.proto})` : ''}` };
    return p;
  });
}

export const statusCommand: Command<StatusArgs> = {
  name: 'status',
  describe: "this node's podCIDR, peers and their routes, skipped nodes, allocations",
  options: (y: Argv) =>
    y
      .option('status-file', { type: 'string', default: AGENT_STATUS_FILE, requiresArg: true, describe: "the agent's status file" })
      .option('conflist', { type: 'string', requiresArg: true, describe: 'config whose allocations to list (default: the one the agent wrote)' })
      .option('json', { type: 'boolean', default: false }) as unknown as Argv<StatusArgs>,
  async run(a) {
    let doc: AgentStatus;
    try {
      doc = readAgentStatus(a['status-file']);
    } catch (e) {
      return fail('status', `no agent status at ${a['status-file']} (is the agent running?): ${(e as Error).message}`);
    }
    const conflist = a.conflist ?? doc.conflist;
    const allocs = conflist ? allocations(readConfList(conflist)) : [];
    // Read from the kernel now, not from the agent's file: what is installed, in whichever backend.
    const masquerade = describeEgress();
    doc = { ...doc, peers: peersAsInstalled(doc.peers) };
    if (a.json) process.stdout.write(`${JSON.stringify({ ...doc, allocations: allocs, masquerade }, null, 2)}\n`);
    else process.stdout.write(render(doc, allocs, conflist, masquerade));
    return 0;
  },
};
