// A node for agent unit tests: a RecordingKernel with an underlay link
// (eth0 10.0.0.1/24), the kernel's own routes and a default route that
// flatnet did not make, an Agent on it writing into a temp directory, and
// node-list builders.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '../../src/agent/agent.ts';
import type { NodeInfo } from '../../src/agent/nodes.ts';
import { configureLog } from '../../src/log.ts';
import { formatCidr, formatIp, parseCidr, parseIp } from '../../src/net/cidr.ts';
import type { NexthopState, RouteState } from '../../src/sys/kernel.ts';
import { RecordingKernel } from './recording-kernel.ts';

export const cidr = (s: string) => parseCidr(s)!;
export const ip = (s: string) => parseIp(s)!;
export const node = (name: string, podCIDRs: string[], internalIPs: string[]): NodeInfo => ({ name, podCIDRs, internalIPs });

/** Routes and nexthops as comparable text: "10.244.2.0/24 via 10.0.0.2 proto 201 nhid 7". */
export const routeText = (r: RouteState): string => [formatCidr(r.dst), r.via && `via ${formatIp(r.via)}`, r.dev && `dev ${r.dev}`, r.proto && `proto ${r.proto}`, r.nhid !== undefined && `nhid ${r.nhid}`].filter(Boolean).join(' ');
export const nexthopText = (n: NexthopState): string => [`id ${n.id}`, n.via && `via ${formatIp(n.via)}`, n.dev && `dev ${n.dev}`, n.proto && `proto ${n.proto}`].filter(Boolean).join(' ');

export function agentBed(opts: Partial<AgentOptions> = {}) {
  configureLog({ level: 'silent' });
  const kernel = new RecordingKernel();
  kernel.addLink('host', { name: 'lo', up: true, addrs: [{ cidr: cidr('127.0.0.1/8'), scope: 'host' }] });
  kernel.addLink('host', { name: 'eth0', up: true, operstate: 'UP', addrs: [{ cidr: cidr('10.0.0.1/24'), scope: 'global' }, { cidr: cidr('fc00::1/64'), scope: 'global' }] });
  // The bridge holds this node's pod gateway: its network is this node's podCIDR.
  kernel.addLink('host', { name: 'cni0', kind: 'bridge', up: true, addrs: [{ cidr: cidr('10.244.1.1/24'), scope: 'global' }] });
  kernel.routesByNs.set('host', [
    { dst: cidr('0.0.0.0/0'), via: ip('10.0.0.254'), dev: 'eth0', proto: '3' },
    { dst: cidr('10.0.0.0/24'), dev: 'eth0', proto: '2' },
    { dst: cidr('10.244.1.0/24'), dev: 'cni0', proto: '2' },
    { dst: cidr('fc00::/64'), dev: 'eth0', proto: '2', metric: 256 },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'fnt-agent-'));
  const agent = new Agent(
    { nodeName: 'self', clusterCIDRs: ['10.244.0.0/16', 'fd00::/48'], confDir: join(dir, 'net.d'), confFile: '10-flatnet.conflist', networkName: 'flatnet', bridge: 'cni0', proto: 201, statusFile: join(dir, 'agent.json'), masqBackend: 'iptables', ...opts },
    kernel,
  );
  const self = node('self', ['10.244.1.0/24'], ['10.0.0.1']);
  return {
    kernel,
    agent,
    self,
    dir,
    status: () => JSON.parse(readFileSync(join(dir, 'agent.json'), 'utf8')),
    routes: () => (kernel.routesByNs.get('host') ?? []).map(routeText),
    ours: () => (kernel.routesByNs.get('host') ?? []).filter((r) => r.proto === '201').map(routeText),
    nexthops: () => (kernel.nexthopList ?? []).map(nexthopText),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
