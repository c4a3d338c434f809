// The Kubernetes harness's pure parts (scripts/kube/): what its daemons are
// told, so that a node never writes the machine's global settings, and how
// an e2e report becomes the printed table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS module shared with the demo
import { containerdConfig, kubeletArgs, kubeletConfig, kubeProxyConfig } from '../../scripts/kube/configs.mjs';
// @ts-expect-error: plain JS module of npm run bench
import { goBaseline, histogram } from '../../scripts/kube/bench.mjs';
// @ts-expect-error: plain JS module shared with npm run e2e:k8s
import { formatTable, readJunit } from '../../scripts/kube/e2e.mjs';

describe('harness node configuration', () => {
  it('kubelet checks the global sysctls instead of writing them, and makes no QoS cgroups', () => {
    const k = kubeletConfig({ clientCAFile: '/ca.crt' });
    expect(k.protectKernelDefaults).toBe(true);
    expect(k.cgroupsPerQOS).toBe(false);
    expect(k.enforceNodeAllocatable).toEqual([]);
    expect(k.authentication.anonymous.enabled).toBe(false);
    expect(kubeletArgs({ config: 'c', kubeconfig: 'k', nodeIp: '10.201.0.11', name: 'worker', controlPlane: false })).not.toContain('--register-with-taints=node-role.kubernetes.io/master=:NoSchedule');
    expect(kubeletArgs({ config: 'c', kubeconfig: 'k', nodeIp: '10.201.0.10', name: 'cp', controlPlane: true })).toContain('--register-with-taints=node-role.kubernetes.io/master=:NoSchedule');
  });

  it('kube-proxy leaves the machine-wide conntrack table size and timeouts alone', () => {
    const p = kubeProxyConfig({ kubeconfig: 'k', name: 'n' });
    expect(p.conntrack).toEqual({ maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' });
    expect(p.mode).toBe('iptables');
  });

  it('containerd runs CNI from the node paths the DaemonSet writes to', () => {
    const t = containerdConfig();
    expect(t).toContain('bin_dir = "/opt/cni/bin"');
    expect(t).toContain('conf_dir = "/etc/cni/net.d"');
    expect(t).toContain('sandbox_image = "k8s.gcr.io/pause:3.2"');
  });
});

describe('e2e report', () => {
  it('reads passed, failed and skipped cases from junit and prints a closing count', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fnt-junit-'));
    try {
      writeFileSync(
        join(dir, 'junit_01.xml'),
        `<?xml version="1.0"?><testsuite tests="4">
<testcase name="[BeforeSuite]" classname="Kubernetes e2e suite" time="1.5"></testcase>
<testcase name="[sig-network] A &amp; B" classname="Kubernetes e2e suite" time="12.25"></testcase>
<testcase name="[sig-network] C" classname="Kubernetes e2e suite" time="3"><failure message="timed out&#xA;more" type="Failure">x</failure></testcase>
<testcase name="[sig-network] D" classname="Kubernetes e2e suite" time="0"><skipped></skipped></testcase>
<testcase name="[sig-network] E" classname="Kubernetes e2e suite" time="5"><failure type="Failure">/go/src/k8s.io/kubernetes/test/e2e/network/service.go:1234&#xA;Unexpected error:&#xA;    &lt;*errors.errorString&gt;: timed out</failure></testcase>
</testsuite>`,
      );
      const cases = readJunit(dir);
      expect(cases).toEqual([
        { name: '[sig-network] A & B', status: 'passed', seconds: 12.25, message: '' },
        { name: '[sig-network] C', status: 'failed', seconds: 3, message: 'timed out' },
        { name: '[sig-network] D', status: 'skipped', seconds: 0, message: '' },
        // e2e 1.20: no message attribute; the body's first line after the source location.
        { name: '[sig-network] E', status: 'failed', seconds: 5, message: 'Unexpected error: <*errors.errorString>: timed out' },
      ]);
      expect(formatTable(cases).split('\n').at(-1)).toBe('e2e: 1 passed, 2 failed, 1 skipped');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubernetes bench', () => {
  it('switches only the plugin pair of the agent\'s conflist to Go\'s', () => {
    const agent = { cniVersion: '1.0.0', name: 'flatnet', plugins: [{ type: 'flatnet', bridge: 'cni0', ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.244.1.0/24' }]] } }, { type: 'portmap', capabilities: { portMappings: true } }] };
    const go = JSON.parse(goBaseline(JSON.stringify(agent)));
    expect(go.plugins[0].type).toBe('bridge');
    expect(go.plugins[0].ipam).toEqual({ type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] });
    expect(go.plugins[1]).toEqual(agent.plugins[1]);
    expect({ ...go.plugins[0], type: 'flatnet', ipam: { ...go.plugins[0].ipam, type: 'flatnet-ipam' } }).toEqual(agent.plugins[0]);
  });

  it('reads a histogram\'s sum and count, by label when asked', () => {
    const text = [
      '# TYPE kubelet_runtime_operations_duration_seconds histogram',
      'kubelet_runtime_operations_duration_seconds_sum{operation_type="list_images"} 9',
      'kubelet_runtime_operations_duration_seconds_count{operation_type="list_images"} 90',
      'kubelet_runtime_operations_duration_seconds_sum{operation_type="run_podsandbox"} 1.5',
      'kubelet_runtime_operations_duration_seconds_count{operation_type="run_podsandbox"} 30',
      'kubelet_pod_start_duration_seconds_sum 12.5',
      'kubelet_pod_start_duration_seconds_count 31',
    ].join('\n');
    expect(histogram(text, 'kubelet_runtime_operations_duration_seconds', 'operation_type="run_podsandbox"')).toEqual({ sum: 1.5, count: 30 });
    expect(histogram(text, 'kubelet_pod_start_duration_seconds')).toEqual({ sum: 12.5, count: 31 });
    expect(histogram(text, 'absent')).toEqual({ sum: 0, count: 0 });
  });
});
