// The verb table of the flatnet plugin. Handlers are loaded per verb so a DEL
// does not pay for loading ADD's code.
import type { PluginFuncs } from '../src/cni/skel.ts';
import { ipamCall } from './ipam.ts';
import { parseBridgeConf } from './netconf.ts';
import { gcMasq } from '../src/sys/ipmasq.ts';
import { validAttachments } from '../ipam/commands.ts';

export const pluginFuncs: PluginFuncs = {
  add: async (a, c) => (await import('./add.ts')).cmdAdd(a, c),
  del: async (a, c) => (await import('./del.ts')).cmdDel(a, c),
  check: async (a, c) => (await import('./check.ts')).cmdCheck(a, c),
  status: async (a, c) => {
    const conf = parseBridgeConf(c, '');
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
