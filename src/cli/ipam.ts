// flatnet ipam ls|gc: the flatnet-ipam store of a network on this node.
import type { Argv } from 'yargs';
import { findConfList, readConfList } from '../cni/conflist.ts';
import { ipamGc } from '../../ipam/commands.ts';
import { allocations, allocationTable, storeOf } from './allocations.ts';
import { type Command, DEFAULT_CONF_DIR, fail, UsageError } from './command.ts';

interface IpamArgs {
  action: 'ls' | 'gc';
  'conf-dir': string;
  conflist?: string;
  network?: string;
  keep: string[];
  all: boolean;
  json: boolean;
}

const keepSpec = (k: string): { containerID: string; ifname: string } => {
  const [containerID, ifname, extra] = k.split('/');
  if (!containerID || extra !== undefined || ifname === '') throw new UsageError(`--keep ${JSON.stringify(k)}: give ID or ID/IFNAME`);
  return { containerID, ifname: ifname ?? 'eth0' };
};

export const ipamCommand: Command<IpamArgs> = {
  name: 'ipam <action>',
  describe: "the IPAM store of this node's flatnet network: ls, or gc --keep ID[/IFNAME]... (releases everything else)",
  options: (y: Argv) =>
    y
      .positional('action', { choices: ['ls', 'gc'] as const, demandOption: true })
      .option('conf-dir', { type: 'string', default: DEFAULT_CONF_DIR, requiresArg: true, describe: 'CNI config directory' })
      .option('network', { type: 'string', requiresArg: true, describe: 'network name (default: the first config, as runtimes pick)' })
      .option('conflist', { type: 'string', requiresArg: true, describe: 'a config file, instead of --conf-dir/--network' })
      .option('keep', { type: 'string', array: true, default: [] as string[], requiresArg: true, describe: 'attachments to keep (gc)' })
      .option('all', { type: 'boolean', default: false, describe: 'gc with no --keep: release every allocation' })
      .option('json', { type: 'boolean', default: false })
      .check((a) => {
        if (a.action === 'gc' && a.keep.length === 0 && !a.all) throw new UsageError('ipam gc: give --keep ID[/IFNAME] for each live attachment, or --all to release everything');
        if (a.action === 'gc' && a.keep.length > 0 && a.all) throw new UsageError('ipam gc: --keep and --all exclude each other');
        if (a.action === 'ls' && (a.keep.length > 0 || a.all)) throw new UsageError('ipam ls takes no --keep or --all');
        a.keep.forEach(keepSpec);
        return true;
      }) as unknown as Argv<IpamArgs>,
  async run(a) {
    const list = a.conflist ? readConfList(a.conflist) : findConfList(a['conf-dir'], a.network);
    if (a.action === 'ls') {
      const rows = allocations(list);
      process.stdout.write(a.json ? `${JSON.stringify(rows, null, 2)}\n` : `${allocationTable(rows).join('\n')}\n`);
      return 0;
    }
    const store = storeOf(list);
    if (!store) return fail('ipam gc', `nothing allocated yet in network ${list.name} (${list.path})`);
    const released = ipamGc(store, a.keep.map(keepSpec));
    for (const r of released) process.stdout.write(`released ${r.ip} (${r.containerId}/${r.ifName || '-'})\n`);
    process.stdout.write(`released ${released.length} allocation(s)\n`);
    return 0;
  },
};
