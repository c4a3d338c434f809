// The flatnet command line, used when the binary runs without CNI_COMMAND and
// with arguments: `flatnet agent …`, `flatnet status`, `flatnet version`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import yargs from 'yargs';
import { Agent, DEFAULT_PROTO, readNodesFile, runFromFile } from './agent/agent.ts';
import { AGENT_STATUS_FILE, type AgentStatus, readAgentStatus } from './agent/status-file.ts';
import { VERSION } from './version.ts';
import { SUPPORTED_VERSIONS } from './cni/version.ts';
import { DiskStore } from '../ipam/disk-store.ts';
import { DEFAULT_DATA_DIR } from '../ipam/config.ts';
import { formatIp } from './net/cidr.ts';


/** The flatnet-ipam store of a conflist; undefined when it has none (yet). */
function storeOf(conflist: string): DiskStore | undefined {
  try {
    const list = JSON.parse(readFileSync(conflist, 'utf8'));
    const plugin = (list.plugins ?? []).find((p: any) => p.ipam?.type === 'flatnet-ipam');
    const dataDir = plugin?.ipam.dataDir ?? DEFAULT_DATA_DIR;
    return plugin && existsSync(join(dataDir, list.name)) ? new DiskStore(dataDir, list.name) : undefined;
  } catch {
    return undefined;
  }
}

type AllocationRow = { ip: string; containerId: string; ifName: string };

const allocationTable = (rows: AllocationRow[]): string[] => [
  'ADDRESS              CONTAINER                                                         IFNAME',
  ...rows.map((r) => `${r.ip.padEnd(20)} ${r.containerId.padEnd(65)} ${r.ifName}`),
];

/** The IPAM store's allocations for the flatnet network of a conflist; empty when there is none. */
function allocations(conflist: string): AllocationRow[] {
  return (storeOf(conflist)?.list() ?? []).map((al) => ({ ip: formatIp(al.ip), containerId: al.containerId, ifName: al.ifName }));
}

export async function cli(argv: string[]): Promise<number> {
  let code = 0;
  await yargs(argv)
    .scriptName('flatnet')
    .command(
      'agent',
      'run the node agent: peer routes, egress masquerade, this node\'s conflist',
      (y) =>
        y
          .option('node-name', { type: 'string', default: process.env.NODE_NAME ?? hostname(), describe: 'this node\'s name in the node list' })
          .option('nodes-file', { type: 'string', describe: 'v1.NodeList JSON (kubectl get nodes -o json), re-read when it changes; without it, nodes come from the Kubernetes API' })
          .option('kubeconfig', { type: 'string', describe: 'kubeconfig for the API (default: in-cluster service account)' })
          .option('cluster-cidr', { type: 'string', array: true, default: [] as string[], describe: 'cluster pod CIDR(s); traffic to them is never masqueraded' })
          .option('cni-conf-dir', { type: 'string', default: '/etc/cni/net.d' })
          .option('cni-conf-file', { type: 'string', default: '10-flatnet.conflist' })
          .option('network-name', { type: 'string', default: 'flatnet' })
          .option('bridge', { type: 'string', default: 'cni0' })
          .option('ipam-data-dir', { type: 'string', describe: 'flatnet-ipam dataDir written into the conflist' })
          .option('mtu', { type: 'number' })
          .option('route-protocol', { type: 'number', default: DEFAULT_PROTO, describe: 'routing protocol number that marks the agent\'s routes' })
          .option('resync', { type: 'number', default: 30, describe: 'seconds between full resyncs' })
          .option('status-file', { type: 'string', default: AGENT_STATUS_FILE })
          .option('log-level', { type: 'string', describe: 'pino level (default info; warn with --once)' })
          .option('once', { type: 'boolean', default: false, describe: 'sync once from --nodes-file, print what was done as JSON, exit' }),
      async (a) => {
        process.env.FLATNET_LOG_LEVEL ??= 'info';
        if (a['log-level']) process.env.FLATNET_LOG_LEVEL = a['log-level'];
        const agent = new Agent({
          nodeName: a['node-name'],
          clusterCIDRs: a['cluster-cidr'],
          confDir: a['cni-conf-dir'],
          confFile: a['cni-conf-file'],
          networkName: a['network-name'],
          bridge: a.bridge,
          ipamDataDir: a['ipam-data-dir'],
          mtu: a.mtu,
          proto: a['route-protocol'],
          statusFile: a['status-file'],
        });
        if (a.once) {
          process.env.FLATNET_LOG_LEVEL = a['log-level'] ?? 'warn';
          if (!a['nodes-file']) throw new Error('--once needs --nodes-file');
          const t0 = performance.now();
          const r = await agent.sync(readNodesFile(a['nodes-file']));
          const ms = performance.now() - t0;
          process.stdout.write(`${JSON.stringify({ ms, routes: r.plan.routes.length, routeWrites: r.routeWrites, skipped: r.plan.skipped.length, ready: r.ready, conflistWritten: r.conflistWritten })}\n`);
          return;
        }
        const ac = new AbortController();
        for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => ac.abort());
        if (a['nodes-file']) await runFromFile(agent, a['nodes-file'], a.resync, ac.signal);
        else await (await import('./agent/kube-source.ts')).runFromKube(agent, { kubeconfig: a.kubeconfig, resyncSeconds: a.resync }, ac.signal);
      },
    )
    .command(
      'status',
      'show this node\'s podCIDR, peers and their routes',
      (y) =>
        y
          .option('status-file', { type: 'string', default: AGENT_STATUS_FILE })
          .option('cni-conf', { type: 'string', default: '/etc/cni/net.d/10-flatnet.conflist', describe: 'conflist whose IPAM allocations to list' })
          .option('json', { type: 'boolean', default: false }),
      (a) => {
        let doc: AgentStatus;
        try {
          doc = readAgentStatus(a['status-file']);
        } catch (e) {
          process.stderr.write(`flatnet: no agent status at ${a['status-file']} (is the agent running?): ${(e as Error).message}\n`);
          code = 1;
          return;
        }
        const allocs = allocations(a['cni-conf']);
        if (a.json) {
          process.stdout.write(`${JSON.stringify({ ...doc, allocations: allocs }, null, 2)}\n`);
          return;
        }
        const lines = [`node      ${doc.node ?? '?'}  (updated ${doc.time})`, `podCIDRs  ${doc.podCIDRs.join(', ') || 'not assigned yet'}`, `ready     ${doc.ready}`, '', 'PEER                 POD CIDR              VIA                STATE'];
        for (const p of doc.peers) lines.push(`${p.node.padEnd(20)} ${p.podCIDR.padEnd(21)} ${p.via.padEnd(18)} ${p.state}`);
        for (const s of doc.skipped) lines.push(`${s.node.padEnd(20)} ${'-'.padEnd(21)} ${'-'.padEnd(18)} skipped: ${s.reason}`);
        lines.push('', ...allocationTable(allocs));
        if (allocs.length === 0) lines.push(`(none in ${a['cni-conf']})`);
        process.stdout.write(`${lines.join('\n')}\n`);
      },
    )
    .command(
      ['add', 'check', 'del'],
      'run a network\'s plugins for one container by hand (like cnitool): add|check|del --netns PATH --id ID',
      (y) =>
        y
          .option('netns', { type: 'string', demandOption: true, describe: 'network namespace path, e.g. /var/run/netns/pod1' })
          .option('id', { type: 'string', demandOption: true, describe: 'container ID' })
          .option('ifname', { type: 'string', default: 'eth0' })
          .option('network', { type: 'string', describe: 'conflist name (default: the first conflist, as runtimes pick)' })
          .option('conf-dir', { type: 'string', default: '/etc/cni/net.d' })
          .option('cni-path', { type: 'string', default: process.env.CNI_PATH ?? '/opt/cni/bin' })
          .option('cache-dir', { type: 'string', default: '/var/lib/cni/flatnet-cli' })
          .option('args', { type: 'string', describe: 'CNI_ARGS, e.g. IgnoreUnknown=1;IP=10.244.1.9' }),
      async (a) => {
        const rt = await import('./runtime.ts');
        const list = rt.loadConfList(a['conf-dir'], a.network);
        const att = { netns: a.netns, containerId: a.id, ifName: a.ifname, cniPath: a['cni-path'], cacheDir: a['cache-dir'], args: a.args };
        const verb = String(a._[0]);
        try {
          if (verb === 'add') process.stdout.write(`${JSON.stringify(await rt.addNetwork(list, att), null, 2)}\n`);
          else if (verb === 'check') await rt.checkNetwork(list, att);
          else await rt.delNetwork(list, att);
        } catch (e) {
          const err = e as { code?: number; message: string; details?: string };
          process.stderr.write(`flatnet ${verb}: ${err.message}${err.details ? ` (${err.details})` : ''}\n`);
          code = 1;
        }
      },
    )
    .command(
      'ipam <action>',
      'the IPAM store of the node\'s flatnet network: ls, or gc --keep ID[/IFNAME]... (releases everything else)',
      (y) =>
        y
          .positional('action', { choices: ['ls', 'gc'] as const, demandOption: true })
          .option('cni-conf', { type: 'string', default: '/etc/cni/net.d/10-flatnet.conflist' })
          .option('keep', { type: 'string', array: true, default: [] as string[], describe: 'attachments to keep (gc)' })
          .option('all', { type: 'boolean', default: false, describe: 'gc with no --keep: release every allocation' })
          .option('json', { type: 'boolean', default: false }),
      async (a) => {
        if (a.action === 'ls') {
          const rows = allocations(a['cni-conf']);
          if (a.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          else process.stdout.write(`${allocationTable(rows).join('\n')}\n`);
          return;
        }
        if (a.keep.length === 0 && !a.all) {
          process.stderr.write('flatnet ipam gc: give --keep ID[/IFNAME] for each live attachment, or --all to release everything\n');
          code = 2;
          return;
        }
        const store = storeOf(a['cni-conf']);
        if (!store) {
          process.stderr.write(`flatnet ipam gc: no flatnet-ipam store for ${a['cni-conf']}\n`);
          code = 1;
          return;
        }
        const { ipamGc } = await import('../ipam/commands.ts');
        const keep = a.keep.map((k) => {
          const [containerID, ifname] = k.split('/');
          return { containerID: containerID!, ifname: ifname ?? 'eth0' };
        });
        process.stdout.write(`released ${ipamGc(store, keep)} allocation(s)\n`);
      },
    )
    .command('version', 'print the version', () => {}, () => {
      process.stdout.write(`flatnet ${VERSION} (CNI ${SUPPORTED_VERSIONS.join(', ')})\n`);
    })
    .demandCommand(1)
    .strict()
    .fail((msg, err, y) => {
      process.stderr.write(`${msg ?? err?.message}\n\n${y.help()}\n`);
      code = 2;
    })
    .parseAsync();
  return code;
}
