// flatnet ipam ls|gc: the flatnet-ipam store of a network on this node.
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { validateContainerId } from '../cni/args.ts';
import { findConfList, readConfList } from '../cni/conflist.ts';
import type { ValidAttachment } from '../cni/types.ts';
import { ifNameProblem } from '../net/names.ts';
import { type AllocationRow, ipamGc } from '../../ipam/commands.ts';
import { bitsOf, parseIp } from '../net/cidr.ts';
import { podMasq } from '../sys/masq.ts';
import type { Allocation } from '../../ipam/store.ts';
import { allocations, allocationTable, storeOf } from './allocations.ts';
import { type Command, DEFAULT_CONF_DIR, fail, UsageError } from './command.ts';

interface IpamArgs {
  action: 'ls' | 'gc';
  'conf-dir': string;
  conflist?: string;
  network?: string;
  keep: string[];
  all: boolean;
  force: boolean;
  'dry-run': boolean;
  json: boolean;
}

type Keep = ValidAttachment;

// What a runtime would accept as container ID and CNI_IFNAME: anything else
// (a comma-joined list, a space) cannot name a live attachment.
const keepSpec = (k: string): Keep => {
  const [containerID, ifname = 'eth0', extra] = k.split('/');
  const usage = `--keep ${JSON.stringify(k)}: give ID or ID/IFNAME, one attachment per --keep`;
  if (!containerID || extra !== undefined) throw new UsageError(usage);
  try {
    validateContainerId(containerID);
  } catch {
    throw new UsageError(`${usage}; ${JSON.stringify(containerID)} is not a container ID`);
  }
  const bad = ifNameProblem(ifname);
  if (bad) throw new UsageError(`${usage}; ${JSON.stringify(ifname)}: ${bad.msg}`);
  return { containerId: containerID, ifName: ifname };
};

// A --keep that names no allocation is most likely a typo (wrong case, wrong
// ifname), and gc would then release the lease it meant to keep.
const keepsMatchingNothing = (keep: Keep[], rows: Allocation[]): Keep[] =>
  keep.filter((k) => !rows.some((r) => r.containerId === k.containerId && (r.ifName === k.ifName || r.ifName === '')));

function gc(a: IpamArgs, list: ReturnType<typeof readConfList>): number {
  const store = storeOf(list);
  if (!store) return fail('ipam gc', `nothing allocated yet in network ${list.name} (${list.path})`);
  const keep = a.keep.map(keepSpec);
  const unmatched = a.force ? [] : keepsMatchingNothing(keep, store.list());
  if (unmatched.length > 0) {
    const names = unmatched.map((k) => `${k.containerId}/${k.ifName}`).join(', ');
    return fail('ipam gc', `--keep ${names} matches no allocation in network ${list.name}: nothing released. IDs and ifnames are matched exactly (see flatnet ipam ls); add --force to release everything not kept anyway`);
  }
  const { released, unreadable } = ipamGc(store, keep, { dryRun: a['dry-run'] });
  const verb = a['dry-run'] ? 'would release' : 'released';
  for (const r of released) process.stdout.write(`${verb} ${r.ip} (${r.record ?? `${r.containerId}/${r.ifName || '-'}`})\n`);
  process.stdout.write(`${verb} ${released.length} allocation(s)\n`);
  for (const r of unreadable) process.stderr.write(`flatnet: ipam gc: kept ${r.ip}: ${r.record}, so whose it is is unknown; check the permissions of ${join(store.dir, r.ip)}\n`);
  const failed = a['dry-run'] ? [] : removeMasquerade(list.name, released);
  for (const f of failed) process.stderr.write(`flatnet: ipam gc: released ${f}\n`);
  return failed.length ? 1 : 0;
}

/**
 * The per-pod masquerade of released leases, in both backends, as the CNI GC
 * removes it: a released address whose masquerade stayed would be
 * masqueraded for the next pod that gets it. Only the jump of each released
 * address goes; the container's chain goes once no other jump uses it.
 * Records that name no container have no rules. What failed is returned.
 */
function removeMasquerade(network: string, released: AllocationRow[]): string[] {
  const masq = podMasq('auto');
  const failed: string[] = [];
  for (const r of released) {
    const ip = parseIp(r.ip);
    if (r.record || !ip) continue;
    try {
      masq.teardown({ network, containerId: r.containerId, ifName: r.ifName, addresses: [{ ...ip, prefix: bitsOf(ip.family) }] });
    } catch (e) {
      failed.push(`${r.ip} but could not remove its masquerade rules: ${(e as Error).message}`);
    }
  }
  return failed;
}

export const ipamCommand: Command<IpamArgs> = {
  name: 'ipam <action>',
  describe: "the IPAM store of this node's flatnet network: ls, or gc --keep ID[/IFNAME]... (releases everything else)",
  options: (y: Argv) =>
    y
      .positional('action', { choices: ['ls', 'gc'] as const, demandOption: true })
      .option('conf-dir', { type: 'string', default: DEFAULT_CONF_DIR, requiresArg: true, describe: 'CNI config directory' })
      .option('network', { type: 'string', requiresArg: true, describe: 'network name (default: the first config, as runtimes pick)' })
      .option('conflist', { type: 'string', requiresArg: true, describe: 'a config file, instead of --conf-dir/--network' })
      .option('keep', { type: 'string', array: true, default: [] as string[], requiresArg: true, describe: 'an attachment to keep (gc): ID/IFNAME, or ID for ID/eth0; repeat for each' })
      .option('all', { type: 'boolean', default: false, describe: 'gc with no --keep: release every allocation' })
      .option('force', { type: 'boolean', default: false, describe: 'gc even when a --keep matches no allocation' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'gc: print what would be released, release nothing' })
      .option('json', { type: 'boolean', default: false })
      .check((a) => {
        if (a.action === 'gc' && a.keep.length === 0 && !a.all) throw new UsageError('ipam gc: give --keep ID[/IFNAME] for each live attachment, or --all to release everything');
        if (a.action === 'gc' && a.keep.length > 0 && a.all) throw new UsageError('ipam gc: --keep and --all exclude each other');
        if (a.action === 'ls' && (a.keep.length > 0 || a.all || a.force || a['dry-run'])) throw new UsageError('ipam ls takes no --keep, --all, --force or --dry-run');
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
    return gc(a, list);
  },
};
