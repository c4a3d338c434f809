// The Kubernetes manifests validated against the Kubernetes OpenAPI schemas
// (kubernetes-models), and checked for what flatnet needs of them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ROOT } from '../helpers/plugin.ts';
import { checkPodSpec, quantity } from '../helpers/pod-template.ts';

const docs = parseAllDocuments(readFileSync(join(ROOT, 'conf', 'kubernetes', 'flatnet.yaml'), 'utf8')).map((d) => d.toJSON());
const pod = docs.find((d) => d.kind === 'DaemonSet').spec.template.spec;
const agent = pod.containers.find((c: any) => c.name === 'agent');
/** The agent's --NAME=VALUE argument. */
const flag = (name: string): string => {
  const a = (agent.args as string[]).find((x) => x.startsWith(`--${name}=`));
  expect(a, `no --${name}= in the agent's args`).toBeDefined();
  return a!.slice(name.length + 3);
};
const models: Record<string, new (d: any) => { validate(): void }> = { DaemonSet, ServiceAccount, ClusterRole, ClusterRoleBinding };

describe('conf/kubernetes/flatnet.yaml', () => {
  it.each(docs.map((d) => [`${d.kind}/${d.metadata.name}`, d]))('%s is valid against the Kubernetes schema', (_n, d) => {
    const Model = models[d.kind];
    expect(Model, `no model for ${d.kind}`).toBeDefined();
    expect(() => new Model!(d).validate()).not.toThrow();
  });

  it('a broken manifest is caught (the validator is real)', () => {
    const ds = structuredClone(docs.find((d) => d.kind === 'DaemonSet'));
    ds.spec.template.spec.containers[0].image = 42;
    expect(() => new DaemonSet(ds).validate()).toThrow();
  });

  it('grants only get/list/watch on nodes', () => {
    const role = docs.find((d) => d.kind === 'ClusterRole');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
  });

  it('runs the agent on the host network with its node name and the host CNI directories', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(agent.command).toEqual(['/usr/local/bin/flatnet', 'agent']);
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(pod.volumes.map((v: any) => v.hostPath.path)).toEqual(expect.arrayContaining(['/opt/cni/bin', '/etc/cni/net.d']));
  });

  it("mounts each host directory the agent and the CLI use at the host's own path", () => {
    const hostPathOf = (mount: string) => {
      const m = agent.volumeMounts.find((x: any) => x.mountPath === mount);
      expect(m, `no mount at ${mount}`).toBeDefined();
      return pod.volumes.find((v: any) => v.name === m.name)?.hostPath?.path;
    };
    // The conflist, the status file (the plugin reads it on the host), the
    // IPAM store (flatnet-ipam's default dataDir, for `flatnet status` and
    // `flatnet ipam`), the iptables lock.
    const statusDir = flag('status-file').replace(/\/[^/]+$/, '');
    for (const p of [flag('conf-dir'), statusDir, '/var/lib/cni/networks', '/run/xtables.lock']) expect(hostPathOf(p)).toBe(p);
    for (const m of [...agent.volumeMounts, ...pod.initContainers.flatMap((c: any) => c.volumeMounts)]) expect(pod.volumes.map((v: any) => v.name)).toContain(m.name);
    const install = pod.initContainers.find((c: any) => c.name === 'install-cni');
    expect(pod.volumes.find((v: any) => v.name === install.volumeMounts[0].name).hostPath.path).toBe('/opt/cni/bin');
  });

  it('adds only NET_ADMIN to an emptied capability set, with no privilege escalation and a read-only root', () => {
    for (const c of [agent, ...pod.initContainers]) {
      expect(c.securityContext.capabilities.drop, c.name).toEqual(['ALL']);
      expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext.readOnlyRootFilesystem, c.name).toBe(true);
      expect(c.securityContext.privileged, c.name).toBeUndefined();
    }
    expect(agent.securityContext.capabilities.add).toEqual(['NET_ADMIN']);
    expect(pod.initContainers.every((c: any) => c.securityContext.capabilities.add === undefined)).toBe(true);
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it("probes /healthz (liveness) and /readyz (readiness) where --health-addr serves them", () => {
    const [host, port] = flag('health-addr').split(':');
    for (const [probe, path] of [
      [agent.livenessProbe, '/healthz'],
      [agent.readinessProbe, '/readyz'],
    ]) {
      expect(probe.httpGet).toEqual({ host, port: Number(port), path });
      // A probe that gives up before the agent's longest pause (a large sync) restarts a working agent.
      expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(2);
      expect(probe.timeoutSeconds).toBeLessThanOrEqual(probe.periodSeconds);
    }
    // Liveness tolerates more than readiness: a miss costs a restart.
    expect(agent.livenessProbe.failureThreshold * agent.livenessProbe.periodSeconds).toBeGreaterThan(agent.readinessProbe.failureThreshold * agent.readinessProbe.periodSeconds);
  });

  it('requests memory at or below its limit, and at least the idle RSS measured in the DaemonSet test', () => {
    const { requests, limits } = agent.resources;
    expect(quantity(requests.memory)).toBeLessThanOrEqual(quantity(limits.memory));
    expect(quantity(requests.memory)).toBeGreaterThanOrEqual(quantity('66Mi'));
    expect(quantity(requests.cpu)).toBeGreaterThan(0);
  });

  it('uses only what the DaemonSet test can run (test/helpers/pod-template.ts)', () => {
    expect(() => checkPodSpec(pod)).not.toThrow();
    const extra = structuredClone(pod);
    extra.containers[0].lifecycle = { preStop: { exec: { command: ['true'] } } };
    expect(() => checkPodSpec(extra)).toThrow(/does not model container agent.lifecycle/);
  });
});

describe('conf/kubernetes/kind.yaml', () => {
  it('disables kind\'s default CNI and sets the pod subnet the DaemonSet uses', () => {
    const kind = parseAllDocuments(readFileSync(join(ROOT, 'conf', 'kubernetes', 'kind.yaml'), 'utf8'))[0]!.toJSON();
    expect(kind.networking).toEqual({ disableDefaultCNI: true, podSubnet: '10.244.0.0/16' });
    expect(flag('cluster-cidr')).toBe(kind.networking.podSubnet);
  });

  it("says to load the archive scripts/image.sh writes (kind's containerd cannot take `docker-image` without a Docker daemon)", () => {
    const text = readFileSync(join(ROOT, 'conf', 'kubernetes', 'kind.yaml'), 'utf8');
    expect(text).toContain('kind load image-archive dist/flatnet-image.tar');
    expect(text).not.toContain('docker-image');
  });
});
