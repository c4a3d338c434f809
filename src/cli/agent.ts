// flatnet agent: the node agent's command line. Every flag becomes a typed,
// checked option here; the agent itself (src/agent) never sees argv.
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import { Agent, DEFAULT_PROTO } from '../agent/agent.ts';
import { parseListenAddr } from '../agent/health.ts';
import { runAgent } from '../agent/run.ts';
import { claimNetns } from '../agent/singleton.ts';
import { FileNodeSource, type NodeSource } from '../agent/source.ts';
import { AGENT_STATUS_FILE } from '../contract/agent-status.ts';
import { configureLog, type LevelName, LEVELS, log } from '../log.ts';
import { validateNetworkName } from '../cni/args.ts';
import { parseCidr } from '../net/cidr.ts';
import { ifNameProblem } from '../net/names.ts';
import { egressMasq } from '../sys/egress-masq.ts';
import { AgentIpKernel } from '../sys/agent-kernel.ts';
import { IpMonitor } from '../sys/ip-monitor.ts';
import type { MasqBackendChoice } from '../sys/kernel.ts';
import { type Command, DEFAULT_CONF_DIR, DEFAULT_CONF_FILE, UsageError } from './command.ts';

interface AgentArgs {
  'node-name': string;
  'nodes-file'?: string;
  kubeconfig?: string;
  'cluster-cidr': string[];
  'conf-dir': string;
  'conf-file': string;
  'network-name': string;
  bridge: string;
  'ipam-data-dir'?: string;
  mtu?: number;
  'route-protocol': number;
  resync: number;
  'status-file': string;
  'log-level'?: string;
  once: boolean;
  'health-addr': string;
  'masquerade-backend': MasqBackendChoice;
  'remove-masquerade-on-exit': boolean;
  'masquerade-node-network': boolean;
}

// yargs makes a repeated flag an array ("--node-name a --node-name b" would
// be node "a,b"): every flag but --cluster-cidr must be given once.
const SINGLE = ['node-name', 'nodes-file', 'kubeconfig', 'conf-dir', 'conf-file', 'network-name', 'bridge', 'ipam-data-dir', 'mtu', 'route-protocol', 'resync', 'status-file', 'log-level', 'health-addr', 'masquerade-backend', 'masquerade-node-network'] as const;

function check(a: AgentArgs): true {
  for (const k of SINGLE) if (Array.isArray(a[k])) throw new UsageError(`agent: --${k} given more than once`);
  if (a['cluster-cidr'].length === 0) throw new UsageError("agent: give --cluster-cidr (the cluster's pod CIDR, e.g. 10.244.0.0/16): peer routes are only installed inside it");
  for (const c of a['cluster-cidr']) {
    const p = parseCidr(c);
    if (!p || p.prefix === 0) throw new UsageError(`agent: --cluster-cidr ${JSON.stringify(c)} is not a CIDR such as 10.244.0.0/16`);
  }
  if (a['nodes-file'] !== undefined && a['nodes-file'] === '') throw new UsageError('agent: --nodes-file needs a path');
  // Found from outside: '' was taken (the conflist went to the working
  // directory, no status file was written, a conflist without a name).
  for (const k of ['node-name', 'conf-dir', 'status-file', 'kubeconfig', 'ipam-data-dir'] as const) {
    if (a[k] !== undefined && a[k] === '') throw new UsageError(`agent: --${k} needs a value`);
  }
  if (a['nodes-file'] !== undefined && a.kubeconfig !== undefined) throw new UsageError('agent: --nodes-file and --kubeconfig exclude each other (one node source)');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*\.conflist$/.test(a['conf-file'])) throw new UsageError(`agent: --conf-file ${JSON.stringify(a['conf-file'])} must be a file name ending in .conflist, inside --conf-dir`);
  try {
    validateNetworkName(a['network-name']);
  } catch (e) {
    throw new UsageError(`agent: --network-name ${JSON.stringify(a['network-name'])}: ${(e as Error).message}`);
  }
  if (a.once && a['remove-masquerade-on-exit']) throw new UsageError('agent: --remove-masquerade-on-exit applies to a running agent, not to --once');
  if (a.once && a['nodes-file'] === undefined) throw new UsageError('agent: --once needs --nodes-file');
  if (!Number.isFinite(a.resync) || a.resync < 1) throw new UsageError(`agent: --resync must be a number of seconds, at least 1, got ${Number.isNaN(a.resync) ? 'something that is not a number' : a.resync}`);
  if (!Number.isInteger(a['route-protocol']) || a['route-protocol'] < 5 || a['route-protocol'] > 255) throw new UsageError('agent: --route-protocol must be an integer from 5 to 255 (0-4 are the kernel\'s own)');
  if (a.mtu !== undefined && (!Number.isInteger(a.mtu) || a.mtu < 68 || a.mtu > 65535)) throw new UsageError('agent: --mtu must be an integer from 68 to 65535');
  const br = ifNameProblem(a.bridge);
  if (br) throw new UsageError(`agent: --bridge ${JSON.stringify(a.bridge)}: ${br.msg}`);
  if (a['health-addr'] !== '' && !parseListenAddr(a['health-addr'])) throw new UsageError(`agent: --health-addr ${JSON.stringify(a['health-addr'])} is not host:port (e.g. 127.0.0.1:9742, [::1]:9742, :9742), or '' for none`);
  if (a['log-level'] !== undefined && !(a['log-level'] in LEVELS)) throw new UsageError(`agent: --log-level must be one of ${Object.keys(LEVELS).join(', ')}`);
  return true;
}

export const agentCommand: Command<AgentArgs> = {
  name: 'agent',
  describe: "run the node agent: peer routes, egress masquerade, this node's conflist",
  options: (y: Argv) =>
    y
      .option('node-name', { type: 'string', default: process.env.NODE_NAME || hostname(), requiresArg: true, describe: "this node's name in the node list (default: $NODE_NAME, else the hostname)" })
      .option('nodes-file', { type: 'string', requiresArg: true, describe: 'v1.NodeList JSON (kubectl get nodes -o json), re-read when it changes; without it, nodes come from the Kubernetes API' })
      .option('kubeconfig', { type: 'string', requiresArg: true, describe: 'kubeconfig for the API (default: in-cluster service account)' })
      .option('cluster-cidr', { type: 'string', array: true, default: [] as string[], requiresArg: true, describe: 'cluster pod CIDR(s), required: peer routes only inside them, traffic to them never masqueraded' })
      .option('conf-dir', { type: 'string', default: DEFAULT_CONF_DIR, requiresArg: true, describe: 'CNI config directory the conflist goes to' })
      .option('conf-file', { type: 'string', default: DEFAULT_CONF_FILE, requiresArg: true })
      .option('network-name', { type: 'string', default: 'flatnet', requiresArg: true })
      .option('bridge', { type: 'string', default: 'cni0', requiresArg: true })
      .option('ipam-data-dir', { type: 'string', requiresArg: true, describe: 'flatnet-ipam dataDir written into the conflist' })
      .option('mtu', { type: 'number', requiresArg: true })
      .option('route-protocol', { type: 'number', default: DEFAULT_PROTO, requiresArg: true, describe: "routing protocol number that marks the agent's routes" })
      .option('resync', { type: 'number', default: 30, requiresArg: true, describe: 'seconds between full resyncs' })
      .option('status-file', { type: 'string', default: AGENT_STATUS_FILE, requiresArg: true })
      .option('log-level', { type: 'string', requiresArg: true, describe: 'trace|debug|info|warn|error|silent (default info; warn with --once)' })
      .option('once', { type: 'boolean', default: false, describe: 'sync once from --nodes-file, print what was done as JSON, exit' })
      .option('health-addr', { type: 'string', default: '127.0.0.1:9742', describe: "serve /healthz, /readyz and /metrics on host:port ('' for none)" })
      .option('masquerade-backend', { choices: ['auto', 'iptables', 'nftables'] as const, default: 'auto' as const, describe: 'egress masquerade in iptables (chain FLATNET-MASQ) or nftables (table inet flatnet); auto: iptables unless only nftables is usable, as the Go bridge plugin decides' })
      .option('masquerade-node-network', {
        type: 'boolean',
        default: true,
        describe:
          "masquerade pods' traffic to this node's networks too (everything outside --cluster-cidr is, as kindnet and flannel do): a host there that is no flatnet node has no route back to pod subnets. --no-masquerade-node-network leaves traffic to this node's networks with the pod's address, for networks where every host routes the pod subnets back",
      })
      .option('remove-masquerade-on-exit', { type: 'boolean', default: false, describe: 'remove the egress masquerade on SIGTERM/SIGINT/SIGHUP (pods lose egress until an agent runs again)' })
      .check(check) as unknown as Argv<AgentArgs>,
  async run(a) {
    configureLog({ level: (a['log-level'] as LevelName | undefined) ?? (a.once ? 'warn' : 'info') });
    const agent = new Agent(
      {
        nodeName: a['node-name'],
        clusterCIDRs: a['cluster-cidr'],
        confDir: a['conf-dir'],
        confFile: a['conf-file'],
        networkName: a['network-name'],
        bridge: a.bridge,
        ipamDataDir: a['ipam-data-dir'],
        mtu: a.mtu,
        proto: a['route-protocol'],
        statusFile: a['status-file'],
        masqBackend: a['masquerade-backend'],
        exemptNodeNetworks: !a['masquerade-node-network'],
      },
      new AgentIpKernel(),
    );
    await claimNetns();
    if (a.once) {
      const source = new FileNodeSource(a['nodes-file']!);
      const nodes = source.read();
      if (!nodes) throw new Error(`cannot use ${a['nodes-file']}: ${source.status().error}`);
      const t0 = performance.now();
      const r = await agent.sync(nodes);
      const ms = performance.now() - t0;
      process.stdout.write(`${JSON.stringify({ ms, routes: r.plan.routes.length, routeWrites: r.routeWrites, skipped: r.plan.skipped.length, failed: r.failed.length, ready: r.ready, conflistWritten: r.conflistWritten })}\n`);
      return r.failed.length || r.errors.length ? 1 : 0;
    }
    const ac = new AbortController();
    // SIGHUP too (a closed terminal, or someone expecting a reload): the agent
    // has nothing to reload, and a stop it does not log looks like a crash.
    let stoppedBy = '';
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(s, () => {
        stoppedBy = s;
        ac.abort();
      });
    }
    const source: NodeSource = a['nodes-file'] ? new FileNodeSource(a['nodes-file']) : new (await import('../agent/reflector.ts')).NodeReflector(await (await import('../agent/kube-api.ts')).kubeNodeApi(a.kubeconfig));
    const health = a['health-addr'] ? parseListenAddr(a['health-addr']) : undefined;
    await log('info', { node: a['node-name'], source: source.name, clusterCIDRs: a['cluster-cidr'], confDir: a['conf-dir'], proto: a['route-protocol'], resync: a.resync, health: a['health-addr'] || 'off', statusFile: a['status-file'] }, `flatnet agent starting for node ${a['node-name']}, nodes from ${source.name}`);
    await runAgent(agent, source, new IpMonitor(), { resyncSeconds: a.resync, health }, ac.signal);
    if (a['remove-masquerade-on-exit']) egressMasq(a['masquerade-backend']).remove();
    await log('info', { signal: stoppedBy }, `flatnet agent stopped (${stoppedBy})`);
    return 0;
  },
};

