// What /metrics tells an operator: why syncs ran, when the last good one
// ended, why peers are unrouted, the watch's events and relists, the API's
// latency and status codes, masquerade errors, the build; and none of the
// runtime defaults that are wrong under Bun (a Node.js version that is not
// running, reserved address space as heap, always-zero heap gauges).
import { describe, expect, it } from 'vitest';
import type { SyncReport } from '../../src/agent/agent.ts';
import { AgentMetrics, skipReason } from '../../src/agent/metrics.ts';
import type { ReflectorStatus } from '../../src/agent/reflector.ts';
import type { NodeSource } from '../../src/agent/source.ts';

const status: ReflectorStatus = { state: 'watching', lists: 2, errors: 1, relists: 1, pages: 41, events: { MODIFIED: 7, ADDED: 2 }, unchanged: 6, watches: 3 };
const source: NodeSource = { name: 'Kubernetes API https://api.test', run: async () => undefined, status: () => status };

const report = (skipped: Array<{ node: string; reason: string }>): SyncReport => ({ plan: { ownPodCIDRs: [], routes: [], skipped, routedNodeIPs: [] }, routeWrites: 3, failed: [], errors: [], conflistWritten: false, ready: true });

describe('agent metrics', () => {
  it('exports sync reasons, the last good sync, skipped peers by reason, watch counters, API requests, masquerade errors and build info', async () => {
    const m = new AgentMetrics(source, () => 4);
    m.synced(report([{ node: 'b', reason: 'InternalIP 10.0.0.2 is also given by c: routed via neither' }, { node: 'c', reason: 'InternalIP 10.0.0.2 is also given by b: routed via neither' }, { node: 'd', reason: 'no podCIDR assigned yet' }]), 0.01, 'node watch event');
    m.synced(report([]), 0.01, 'kernel event (route)');
    m.syncFailed(new Error('x'), 0.01, 'resync');
    m.apiRequest('list', '200', 0.3);
    m.apiRequest('list', '410', 0.01);
    const text = await m.registry.metrics();
    for (const line of [
      'flatnet_agent_syncs_total{reason="node_watch_event",result="ok"} 1',
      'flatnet_agent_syncs_total{reason="kernel_event",result="ok"} 1',
      'flatnet_agent_syncs_total{reason="resync",result="error"} 1',
      'flatnet_agent_node_relists_total 1',
      'flatnet_agent_node_list_pages_total 41',
      'flatnet_agent_node_watches_total 3',
      'flatnet_agent_node_watch_events_total{type="MODIFIED"} 7',
      'flatnet_agent_node_watch_events_unchanged_total 6',
      'flatnet_agent_api_request_duration_seconds_count{verb="list",code="200"} 1',
      'flatnet_agent_api_request_duration_seconds_count{verb="list",code="410"} 1',
      'flatnet_agent_masquerade_sync_errors_total 4',
    ])
      expect(text).toContain(line);
    expect(text).toMatch(/flatnet_agent_last_successful_sync_timestamp_seconds \d{10}/);
    expect(text).toMatch(/flatnet_agent_build_info\{version="[^"]+",runtime="(bun|node) [^"]+"\} 1/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).toMatch(/process_cpu_seconds_total \d/);
    expect(text).not.toMatch(/nodejs_|process_heap_bytes/);
  });

  it('counts skipped peers by reason as of the last sync', async () => {
    const m = new AgentMetrics(source);
    m.synced(report([{ node: 'b', reason: 'InternalIP 10.0.0.2 is also given by c: routed via neither' }, { node: 'd', reason: 'no podCIDR assigned yet' }]), 0.01, 'node list');
    expect(await m.registry.metrics()).toContain('flatnet_agent_skipped_peers_by_reason{reason="conflict"} 1');
    m.synced(report([]), 0.01, 'resync');
    expect(await m.registry.metrics()).toContain('flatnet_agent_skipped_peers_by_reason{reason="conflict"} 0');
  });

  it('classes the planner\'s reasons', () => {
    expect(skipReason('being deleted, and InternalIP 10.0.0.2 is also given by n2, which is not: left to it')).toBe('yielded');
    expect(skipReason('podCIDR "x" is not a CIDR')).toBe('invalid');
    expect(skipReason('next hop 10.9.0.1 is not on a directly connected network (nodes must share an L2 segment)')).toBe('next_hop');
  });
});
