// flatnet add|check|del: a network's plugins for one container, by hand (as cnitool).
import type { Argv } from 'yargs';
import { findConfList } from '../cni/conflist.ts';
import { type Command, DEFAULT_CONF_DIR } from './command.ts';
import { addNetwork, attachment, checkNetwork, delNetwork } from './runtime.ts';

interface AttachArgs {
  netns: string;
  id: string;
  ifname: string;
  network?: string;
  'conf-dir': string;
  'cni-path': string;
  'cache-dir': string;
  args?: string;
}

const options = (y: Argv): Argv<AttachArgs> =>
  y
    .option('netns', { type: 'string', demandOption: true, requiresArg: true, describe: 'network namespace path, e.g. /var/run/netns/pod1' })
    .option('id', { type: 'string', demandOption: true, requiresArg: true, describe: 'container ID' })
    .option('ifname', { type: 'string', default: 'eth0', requiresArg: true })
    .option('network', { type: 'string', requiresArg: true, describe: 'network name (default: the first config, as runtimes pick)' })
    .option('conf-dir', { type: 'string', default: DEFAULT_CONF_DIR, requiresArg: true, describe: 'CNI config directory' })
    .option('cni-path', { type: 'string', default: process.env.CNI_PATH ?? '/opt/cni/bin', requiresArg: true })
    .option('cache-dir', { type: 'string', default: '/var/lib/cni/flatnet-cli', requiresArg: true })
    .option('args', { type: 'string', requiresArg: true, describe: 'CNI_ARGS, e.g. IgnoreUnknown=1;IP=10.244.1.9' }) as unknown as Argv<AttachArgs>;

const target = (a: AttachArgs) => ({
  list: findConfList(a['conf-dir'], a.network),
  att: attachment({ netns: a.netns, containerId: a.id, ifName: a.ifname, cniPath: a['cni-path'], cacheDir: a['cache-dir'], ...(a.args ? { args: a.args } : {}) }),
});

export const addCommand: Command<AttachArgs> = {
  name: 'add',
  describe: "attach a container: run the network's plugins (ADD) and print the result",
  options,
  async run(a) {
    const { list, att } = target(a);
    process.stdout.write(`${JSON.stringify(addNetwork(list, att), null, 2)}\n`);
    return 0;
  },
};

export const checkCommand: Command<AttachArgs> = {
  name: 'check',
  describe: 'check a container attached with flatnet add (CHECK with the cached result)',
  options,
  async run(a) {
    const { list, att } = target(a);
    checkNetwork(list, att);
    return 0;
  },
};

export const delCommand: Command<AttachArgs> = {
  name: 'del',
  describe: "detach a container: run the network's plugins (DEL) in reverse",
  options,
  async run(a) {
    const { list, att } = target(a);
    if (!delNetwork(list, att)) process.stderr.write(`flatnet del: flatnet add made no attachment ${att.containerId}/${att.ifName} in ${list.name} (${att.cacheDir}); DEL ran anyway (it is idempotent)\n`);
    return 0;
  },
};
