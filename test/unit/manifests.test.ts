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

const docs = parseAllDocuments(readFileSync(join(ROOT, 'conf', 'kubernetes', 'flatnet.yaml'), 'utf8')).map((d) => d.toJSON());
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
    const pod = docs.find((d) => d.kind === 'DaemonSet').spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    const agent = pod.containers[0];
    expect(agent.command.slice(0, 2)).toEqual(['/usr/local/bin/flatnet', 'agent']);
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(pod.volumes.map((v: any) => v.hostPath.path)).toEqual(expect.arrayContaining(['/opt/cni/bin', '/etc/cni/net.d']));
  });
});

describe('conf/kubernetes/kind.yaml', () => {
  it('disables kind\'s default CNI and sets the pod subnet the DaemonSet uses', () => {
    const kind = parseAllDocuments(readFileSync(join(ROOT, 'conf', 'kubernetes', 'kind.yaml'), 'utf8'))[0]!.toJSON();
    expect(kind.networking).toEqual({ disableDefaultCNI: true, podSubnet: '10.244.0.0/16' });
    const agent = docs.find((d) => d.kind === 'DaemonSet').spec.template.spec.containers[0];
    expect(agent.command).toContain(`--cluster-cidr=${kind.networking.podSubnet}`);
  });
});
