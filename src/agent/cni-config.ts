// The node's conflist, written only once the node is ready to route, only
// when its content changes, and atomically, with no other name ever appearing
// in the conf dir that runtimes watch (publishFile).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { publishFile } from '../sys/publish-file.ts';

export interface ConflistOptions {
  name: string;
  bridge: string;
  podCIDRs: string[];
  dataDir?: string;
  mtu?: number;
  /** Where the agent reports readiness; the plugin's STATUS reads it. */
  agentStatusFile?: string;
}

export function renderConflist(o: ConflistOptions): string {
  const ipam: Record<string, unknown> = { type: 'flatnet-ipam', ranges: o.podCIDRs.map((c) => [{ subnet: c }]) };
  if (o.dataDir) ipam.dataDir = o.dataDir;
  const plugin: Record<string, unknown> = {
    type: 'flatnet',
    bridge: o.bridge,
    isGateway: true,
    isDefaultGateway: true,
    // The agent masquerades egress per node; per-pod chains would only add rules.
    ipMasq: false,
    hairpinMode: true,
    ipam,
  };
  if (o.mtu) plugin.mtu = o.mtu;
  if (o.agentStatusFile) plugin.agentStatusFile = o.agentStatusFile;
  return `${JSON.stringify({ cniVersion: '1.0.0', name: o.name, plugins: [plugin, { type: 'portmap', capabilities: { portMappings: true } }] }, null, 2)}\n`;
}

/** Writes `content` to dir/file unless it is already there; true when written. */
export function writeIfChanged(dir: string, file: string, content: string): boolean {
  const path = join(dir, file);
  try {
    if (readFileSync(path, 'utf8') === content) return false;
  } catch {
    // absent: write it
  }
  publishFile(dir, file, content);
  return true;
}
