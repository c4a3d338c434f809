// The verb table of the flatnet plugin. Handlers are loaded per verb so a DEL
// does not pay for loading ADD's code.
import type { PluginFuncs } from '../src/cni/skel.ts';
import { ipamCall } from './ipam.ts';
import { parseBridgeConf } from './netconf.ts';
import { gcMasq } from '../src/sys/ipmasq.ts';
import { validAttachments } from '../ipam/commands.ts';
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import { AGENT_STATUS_FILE, type AgentStatus, readAgentStatus } from '../src/agent/status-file.ts';

// Where a flatnet agent runs, pods can only be served once it has routed the
// node (it reports ready in its status file). No status file means no agent:
// flatnet on a plain host, which is always ready.
function agentReadiness(path: string): void {
  let doc: AgentStatus;
  try {
    doc = readAgentStatus(path);
  } catch {
    return;
  }
  if (doc.ready === false) {
    throw new CniError(ErrorCode.NotAvailable, 'flatnet agent has not finished setting up this node', `${path}: no podCIDR for node ${doc.node ?? '?'} yet; see flatnet status`);
  }
}

export const pluginFuncs: PluginFuncs = {
  add: async (a, c) => (await import('./add.ts')).cmdAdd(a, c),
  del: async (a, c) => (await import('./del.ts')).cmdDel(a, c),
  check: async (a, c) => (await import('./check.ts')).cmdCheck(a, c),
  status: async (a, c) => {
    const conf = parseBridgeConf(c, '');
    agentReadiness(typeof c.agentStatusFile === 'string' ? c.agentStatusFile : AGENT_STATUS_FILE);
    if (conf.ipamType) await ipamCall('STATUS', conf.ipamType, a);
  },
  gc: async (a, c) => {
    const conf = parseBridgeConf(c, '');
    const valid = validAttachments(c);
    if (conf.ipamType) await ipamCall('GC', conf.ipamType, a);
    // Masquerade chains are per container; GC them whether or not ipMasq is on
    // now, since the config may have changed since ADD.
    await gcMasq(conf.name, new Set(valid.map((v) => v.containerID)));
  },
};
