// The agent's status file: written after every sync, read by `flatnet status`
// and by the plugin's STATUS (which answers 50 while the node is not ready).
import { readFileSync } from 'node:fs';
import { writeAtomic } from '../sys/write-atomic.ts';

export const AGENT_STATUS_FILE = '/run/flatnet/agent.json';

export interface AgentStatus {
  time: string;
  node?: string;
  podCIDRs: string[];
  ready: boolean;
  peers: Array<{ node: string; podCIDR: string; via: string; state: string }>;
  skipped: Array<{ node: string; reason: string }>;
}

export function writeAgentStatus(path: string, doc: AgentStatus): void {
  writeAtomic(path, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Throws when the file is absent or not JSON. */
export function readAgentStatus(path: string): AgentStatus {
  return JSON.parse(readFileSync(path, 'utf8')) as AgentStatus;
}
