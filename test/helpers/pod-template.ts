// A pod template (from a manifest) as kubelet + containerd would run it on a
// node, turned into podman arguments: hostPath volumes become directories
// under the node's own root, the host network is the node's namespace, the
// downward API and the in-cluster service env and service-account files are
// filled in, and the securityContext and resources map to podman's flags.
// Every field it does not model either has a stated reason to be ignored
// here or makes it throw, so a manifest change the DaemonSet test cannot
// reproduce fails loudly instead of being run without.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';

/** A node: its name and IP, its network namespace, and the directory playing its root filesystem. */
export interface PodNode {
  name: string;
  ip: string;
  netns: string;
  root: string;
}

export interface PodContext {
  node: PodNode;
  podName: string;
  namespace: string;
  /** The service-account token, ca.crt and namespace, mounted where kubelet puts them. */
  serviceAccountDir?: string;
  /** What kubelet puts in every container's environment for the `kubernetes` service. */
  serviceEnv: Record<string, string>;
}

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

// Scheduling and admission: decided before a pod reaches a node, so nothing to run.
const IGNORED_POD_FIELDS: Record<string, string> = {
  priorityClassName: 'scheduling',
  tolerations: 'scheduling',
  nodeSelector: 'scheduling',
  affinity: 'scheduling',
  serviceAccountName: 'its token is what serviceAccountDir holds',
  terminationGracePeriodSeconds: 'the test stops the containers itself',
  dnsPolicy: 'the agent resolves no names (the API is an IP from the service env)',
};
const POD_FIELDS = new Set(['hostNetwork', 'containers', 'initContainers', 'volumes', 'automountServiceAccountToken', 'securityContext', ...Object.keys(IGNORED_POD_FIELDS)]);
const IGNORED_CONTAINER_FIELDS: Record<string, string> = {
  imagePullPolicy: 'the image is loaded beforehand, as `kind load image-archive` does',
  terminationMessagePolicy: 'no termination messages here',
  livenessProbe: 'kubelet runs probes; the test does, from the node namespace',
  readinessProbe: 'kubelet runs probes; the test does, from the node namespace',
  startupProbe: 'kubelet runs probes; the test does, from the node namespace',
};
const CONTAINER_FIELDS = new Set(['name', 'image', 'command', 'args', 'env', 'securityContext', 'resources', 'volumeMounts', ...Object.keys(IGNORED_CONTAINER_FIELDS)]);

// containerd's default capability set (what a container has unless its
// securityContext drops ALL): podman's own default differs.
const CONTAINERD_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];

function unsupported(what: string): never {
  throw new Error(`the pod runner does not model ${what}: teach test/helpers/pod-template.ts, or leave it out of the manifest`);
}

function checkFields(obj: object, known: Set<string>, where: string): void {
  for (const k of Object.keys(obj)) if (!known.has(k)) unsupported(`${where}.${k}`);
}

/** Checks that every field of the pod spec is either modelled or ignored for a stated reason. */
export function checkPodSpec(pod: IPodSpec): void {
  checkFields(pod, POD_FIELDS, 'spec');
  if (pod.hostNetwork !== true) unsupported('a pod without hostNetwork (the runner puts containers in the node namespace)');
  const sc = pod.securityContext ?? {};
  checkFields(sc, new Set(['seccompProfile']), 'spec.securityContext');
  for (const v of pod.volumes ?? []) {
    checkFields(v, new Set(['name', 'hostPath']), `volume ${v.name}`);
    if (!v.hostPath) unsupported(`volume ${v.name} that is not a hostPath`);
  }
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    checkFields(c, CONTAINER_FIELDS, `container ${c.name}`);
    checkFields(c.securityContext ?? {}, new Set(['capabilities', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'privileged', 'seccompProfile']), `container ${c.name}.securityContext`);
    for (const m of c.volumeMounts ?? []) checkFields(m, new Set(['name', 'mountPath', 'readOnly', 'mountPropagation']), `container ${c.name} volumeMount ${m.name}`);
  }
}

/** A node-local path for a hostPath: the same path under the node's root. */
export const nodePath = (node: PodNode, hostPath: string): string => join(node.root, hostPath);

/**
 * What kubelet does for the pod's hostPath volumes before any container
 * starts (DirectoryOrCreate: mkdir -p 0755; FileOrCreate: an empty 0644 file;
 * Directory/File: must exist). Returns volume name -> path on this machine.
 */
export function prepareHostPaths(pod: IPodSpec, node: PodNode): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of pod.volumes ?? []) {
    const hp = v.hostPath!;
    const p = nodePath(node, hp.path);
    if (hp.type === 'DirectoryOrCreate') mkdirSync(p, { recursive: true, mode: 0o755 });
    else if (hp.type === 'FileOrCreate') {
      mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
      closeSync(openSync(p, 'a', 0o644));
    } else if (hp.type === 'Directory' || hp.type === 'File') {
      if (!existsSync(p)) throw new Error(`hostPath ${hp.path} (type ${hp.type}) does not exist on node ${node.name}: kubelet would not start the pod`);
    } else if (hp.type !== undefined && hp.type !== '') unsupported(`hostPath type ${hp.type}`);
    out.set(v.name, p);
  }
  return out;
}

/** containerd's reading of an image reference: a bare name is docker.io/library/NAME. */
export function resolveImage(ref: string): string {
  const [first, ...rest] = ref.split('/');
  if (rest.length === 0) return `docker.io/library/${ref}`;
  if (first!.includes('.') || first!.includes(':') || first === 'localhost') return ref;
  return `docker.io/${ref}`;
}

/** A Kubernetes quantity ("128Mi", "50m", "1", "0.5", "1G") as a number of units (bytes, cores). */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const mult: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * mult[m[2] ?? '']!;
}

function capabilityArgs(c: IContainer): string[] {
  const caps = c.securityContext?.capabilities ?? {};
  const drop = new Set((caps.drop ?? []).map((x) => x.toUpperCase()));
  const add = (caps.add ?? []).map((x) => x.toUpperCase());
  const base = drop.has('ALL') ? [] : CONTAINERD_DEFAULT_CAPS.filter((x) => !drop.has(x));
  return ['--cap-drop=all', ...[...new Set([...base, ...add])].map((x) => `--cap-add=${x}`)];
}

function securityArgs(pod: IPodSpec, c: IContainer): string[] {
  const sc = c.securityContext ?? {};
  if (sc.privileged) return ['--privileged'];
  const out = capabilityArgs(c);
  if (sc.allowPrivilegeEscalation === false) out.push('--security-opt=no-new-privileges');
  // Kubernetes adds no tmpfs to a read-only root; podman would unless told.
  if (sc.readOnlyRootFilesystem) out.push('--read-only', '--read-only-tmpfs=false');
  // kubelet's default (no SeccompDefault) is Unconfined; RuntimeDefault is the
  // runtime's profile, which for podman is its default.
  const seccomp = sc.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type ?? 'Unconfined';
  if (seccomp === 'Unconfined') out.push('--security-opt=seccomp=unconfined');
  else if (seccomp !== 'RuntimeDefault') unsupported(`seccompProfile ${seccomp}`);
  return out;
}

function resourceArgs(c: IContainer): string[] {
  const r = c.resources ?? {};
  const out: string[] = [];
  // cgroup v1, as on this machine: a memory request sets nothing; the CPU
  // request becomes cpu.shares as kubelet computes it.
  if (r.requests?.cpu !== undefined) out.push(`--cpu-shares=${Math.max(2, Math.floor(quantity(r.requests.cpu) * 1024))}`);
  if (r.limits?.cpu !== undefined) out.push(`--cpus=${quantity(r.limits.cpu)}`);
  if (r.limits?.memory !== undefined) out.push(`--memory=${Math.floor(quantity(r.limits.memory))}`);
  return out;
}

function envArgs(c: IContainer, ctx: PodContext): string[] {
  const env: Record<string, string> = { ...ctx.serviceEnv };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const fields: Record<string, string> = { 'spec.nodeName': ctx.node.name, 'metadata.name': ctx.podName, 'metadata.namespace': ctx.namespace, 'status.hostIP': ctx.node.ip, 'status.podIP': ctx.node.ip };
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) unsupported(`env ${e.name} from ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else unsupported(`env ${e.name} from ${Object.keys(e.valueFrom ?? {}).join()}`);
  }
  return Object.entries(env).map(([k, v]) => `--env=${k}=${v}`);
}

function mountArgs(pod: IPodSpec, c: IContainer, ctx: PodContext, volumes: Map<string, string>): string[] {
  const out: string[] = [];
  for (const m of c.volumeMounts ?? []) {
    const src = volumes.get(m.name);
    if (!src) throw new Error(`container ${c.name} mounts ${m.name}, which is no volume of the pod`);
    const opts = [m.readOnly ? 'ro' : 'rw'];
    if (m.mountPropagation === 'HostToContainer') opts.push('rslave');
    else if (m.mountPropagation === 'Bidirectional') opts.push('rshared');
    out.push(`--volume=${src}:${m.mountPath}:${opts.join(',')}`);
  }
  if (pod.automountServiceAccountToken !== false && ctx.serviceAccountDir) out.push(`--volume=${ctx.serviceAccountDir}:${SERVICE_ACCOUNT_MOUNT}:ro`);
  return out;
}

/**
 * `podman run` options, image and command for one container of the pod
 * (the caller adds --name, -d or --rm, and its engine's own options).
 * command replaces the image's entrypoint (and with it the image's CMD),
 * args the CMD, as in Kubernetes.
 */
export function podmanRunArgs(pod: IPodSpec, c: IContainer, ctx: PodContext, volumes: Map<string, string>): string[] {
  checkPodSpec(pod);
  if (!c.image) throw new Error(`container ${c.name} has no image`);
  return [
    `--network=ns:${ctx.node.netns}`,
    // A hostNetwork pod shares the node's UTS namespace: its hostname is the node's.
    `--hostname=${ctx.node.name}`,
    ...securityArgs(pod, c),
    ...resourceArgs(c),
    ...envArgs(c, ctx),
    ...mountArgs(pod, c, ctx, volumes),
    ...(c.command ? [`--entrypoint=${JSON.stringify(c.command)}`] : []),
    resolveImage(c.image),
    ...(c.args ?? []),
  ];
}

/** Where kubelet sends an httpGet probe of a hostNetwork pod (host defaults to the pod IP, which is the node's). */
export function probeTarget(probe: IProbe, node: PodNode): { url: string; timeoutMs: number; periodMs: number; failureThreshold: number } {
  const g = probe.httpGet;
  if (!g) unsupported('a probe other than httpGet');
  if (typeof g.port !== 'number') unsupported('a probe on a named port');
  const host = g.host ?? node.ip;
  return {
    url: `${(g.scheme ?? 'HTTP').toLowerCase()}://${host.includes(':') ? `[${host}]` : host}:${g.port}${g.path ?? '/'}`,
    timeoutMs: (probe.timeoutSeconds ?? 1) * 1000,
    periodMs: (probe.periodSeconds ?? 10) * 1000,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}
