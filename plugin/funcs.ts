// The verb table of the flatnet plugin, and what the verbs act through.
// Handlers are loaded per verb so a DEL does not pay for loading ADD's code.
import { randomBytes } from 'node:crypto';
import { validAttachments } from '../src/cni/attachments.ts';
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import type { PluginFuncs } from '../src/cni/skel.ts';
import { AGENT_STATUS_FILE, readAgentStatus } from '../src/contract/agent-status.ts';
import { IpKernel } from '../src/sys/ip-kernel.ts';
import type { PluginDeps } from './deps.ts';
import { openIpam } from './ipam.ts';
import { parseBridgeConf } from './netconf.ts';

// Where a flatnet agent runs, pods can only be served once it has routed the
// node (it reports ready in its status file). No status file means no agent:
// flatnet on a plain host, which is always ready.
// A status file that is there but unreadable is not taken as "no agent".
function agentReadiness(path: string): void {
  let ready: boolean;
  let node: string | undefined;
  try {
    ({ ready, node } = readAgentStatus(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CniError(ErrorCode.NotAvailable, `cannot read the flatnet agent's status: ${(e as Error).message}`, 'see flatnet status; the agent rewrites the file on its next sync');
  }
  if (!ready) {
    throw new CniError(ErrorCode.NotAvailable, 'flatnet agent has not finished setting up this node', `${path}: no podCIDR for node ${node ?? '?'} yet; see flatnet status`);
  }
}

export function pluginFuncs(deps: PluginDeps): PluginFuncs {
  return {
    add: async (a, c) => (await import('./add.ts')).cmdAdd(a, c, deps),
    del: async (a, c) => (await import('./del.ts')).cmdDel(a, c, deps),
    check: async (a, c) => (await import('./check.ts')).cmdCheck(a, c, deps),
    status: async (a, c) => {
      const conf = parseBridgeConf(c, '');
      agentReadiness(typeof c.agentStatusFile === 'string' ? c.agentStatusFile : deps.agentStatusFile);
      if (conf.ipam) await (await deps.ipam(conf.ipam, c, a)).call('STATUS', a);
    },
    gc: async (a, c) => {
      const conf = parseBridgeConf(c, '');
      const valid = validAttachments(c);
      if (conf.ipam) await (await deps.ipam(conf.ipam, c, a)).call('GC', a);
      // Masquerade is per attachment; GC it whether or not ipMasq is on now,
      // since the config may have changed since ADD.
      deps.kernel.podMasq(conf.ipMasqBackend).gc(conf.name, valid);
    },
  };
}

export const realDeps = (): PluginDeps => ({ kernel: new IpKernel(), ipam: openIpam, random: (n) => randomBytes(n), agentStatusFile: AGENT_STATUS_FILE });
