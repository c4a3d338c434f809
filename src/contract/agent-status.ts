// The agent's status file: written after every sync, read by `flatnet status`
// and by the plugin's STATUS (which answers 50 while the node is not ready).
import { readFileSync } from 'node:fs';
import { isObject } from '../cni/json.ts';
import { writeAtomic } from '../sys/write-atomic.ts';

export const AGENT_STATUS_FILE = '/run/flatnet/agent.json';

export interface AgentStatus {
  time: string;
  node?: string;
  podCIDRs: string[];
  ready: boolean;
  peers: Array<{ node: string; podCIDR: string; via: string; state: string }>;
  skipped: Array<{ node: string; reason: string }>;
  /** The conflist the agent writes for this node. */
  conflist?: string;
  /** Why the node is not ready, when it is not. */
  problem?: string;
  /** Where the node list comes from and how that is going (listing, watching, backing off after an error). */
  source?: string;
}

export function writeAgentStatus(path: string, doc: AgentStatus): void {
  writeAtomic(path, `${JSON.stringify(doc, null, 2)}\n`);
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isArrayOf = (v: unknown, keys: string[]): boolean => Array.isArray(v) && v.every((x) => isObject(x) && keys.every((k) => typeof x[k] === 'string'));

/**
 * Reads and checks the status file. Throws when it is absent (code ENOENT),
 * or not a status document (a message saying what is wrong). Only `ready` is
 * required; lists that are absent read as empty.
 */
export function readAgentStatus(path: string): AgentStatus {
  const doc: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const bad = (what: string): Error => new Error(`${path} is not a flatnet agent status document: ${what}`);
  if (!isObject(doc)) throw bad('not a JSON object');
  if (typeof doc.ready !== 'boolean') throw bad('"ready" must be true or false');
  for (const k of ['node', 'time', 'conflist', 'problem', 'source']) if (doc[k] !== undefined && typeof doc[k] !== 'string') throw bad(`"${k}" must be a string`);
  if (doc.podCIDRs !== undefined && !isStringArray(doc.podCIDRs)) throw bad('"podCIDRs" must be a list of strings');
  if (doc.peers !== undefined && !isArrayOf(doc.peers, ['node', 'podCIDR', 'via', 'state'])) throw bad('"peers" must be a list of {node, podCIDR, via, state}');
  if (doc.skipped !== undefined && !isArrayOf(doc.skipped, ['node', 'reason'])) throw bad('"skipped" must be a list of {node, reason}');
  return { time: '', podCIDRs: [], peers: [], skipped: [], ...doc } as unknown as AgentStatus;
}
