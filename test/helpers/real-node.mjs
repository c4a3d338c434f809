// A v1.Node as kubelet and the controllers leave it in a real cluster
// (~13.6 KB of JSON: labels, annotations, managedFields, five conditions,
// capacity, nodeInfo and the node's image list), for the API stand-in's
// scale runs: what the agent must read, of which it needs ~100 bytes.
// Deterministic from its arguments.

const IMAGES = [
  'registry.k8s.io/etcd:3.5.9-0',
  'registry.k8s.io/kube-apiserver:v1.28.4',
  'registry.k8s.io/kube-controller-manager:v1.28.4',
  'registry.k8s.io/kube-scheduler:v1.28.4',
  'registry.k8s.io/kube-proxy:v1.28.4',
  'registry.k8s.io/coredns/coredns:v1.10.1',
  'registry.k8s.io/pause:3.9',
  'docker.io/library/nginx:1.25.3',
  'docker.io/library/redis:7.2.3',
  'docker.io/library/postgres:16.1',
  'quay.io/prometheus/node-exporter:v1.7.0',
  'quay.io/prometheus/prometheus:v2.48.0',
  'docker.io/grafana/grafana:10.2.2',
  'docker.io/fluent/fluent-bit:2.2.0',
  'registry.k8s.io/metrics-server/metrics-server:v0.6.4',
  'docker.io/library/busybox:1.36.1',
  'docker.io/library/alpine:3.19.0',
  'gcr.io/distroless/static-debian12:nonroot',
  'quay.io/jetstack/cert-manager-controller:v1.13.2',
  'quay.io/jetstack/cert-manager-webhook:v1.13.2',
  'registry.k8s.io/ingress-nginx/controller:v1.9.4',
  'docker.io/bitnami/kafka:3.6.0',
  'docker.io/bitnami/zookeeper:3.9.1',
  'docker.io/library/mysql:8.2.0',
  'docker.io/library/mongo:7.0.4',
  'quay.io/argoproj/argocd:v2.9.3',
  'ghcr.io/flatnet/flatnet:0.2.0',
  'docker.io/library/python:3.12-slim',
  'docker.io/library/node:20-slim',
  'docker.io/library/golang:1.21',
];

const hex = (seed, n) => {
  let h = 2166136261 ^ seed;
  let out = '';
  while (out.length < n) {
    h = Math.imul(h ^ (h >>> 13), 16777619) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, n);
};

/** `heartbeat`: the Ready condition's lastHeartbeatTime (ISO); `ready`: its status. */
export function realSizedNode({ name, podCIDRs, ips, heartbeat = '2026-01-01T00:00:00Z', ready = 'True', seed = 0 }) {
  const t = '2026-01-01T00:00:00Z';
  const cond = (type, status, reason, message) => ({ type, status, lastHeartbeatTime: heartbeat, lastTransitionTime: t, reason, message });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `${hex(seed, 8)}-${hex(seed + 1, 4)}-${hex(seed + 2, 4)}-${hex(seed + 3, 4)}-${hex(seed + 4, 12)}`,
      creationTimestamp: t,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': 'n2-standard-8',
        'topology.kubernetes.io/region': 'europe-west1',
        'topology.kubernetes.io/zone': `europe-west1-${'bcd'[seed % 3]}`,
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'pd.csi.storage.gke.io': `projects/p/zones/z/instances/${name}` }),
      },
      managedFields: [
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: t, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:volumes.kubernetes.io/controller-managed-attach-detach': {} }, 'f:labels': { '.': {}, 'f:beta.kubernetes.io/arch': {}, 'f:beta.kubernetes.io/os': {}, 'f:kubernetes.io/arch': {}, 'f:kubernetes.io/hostname': {}, 'f:kubernetes.io/os': {} } } } },
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: t, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:node.alpha.kubernetes.io/ttl': {} } }, 'f:spec': { 'f:podCIDR': {}, 'f:podCIDRs': { '.': {}, [`v:"${podCIDRs[0]}"`]: {} } } } },
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time: t,
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: { 'f:status': { 'f:allocatable': { 'f:cpu': {}, 'f:ephemeral-storage': {}, 'f:memory': {}, 'f:pods': {} }, 'f:capacity': { 'f:cpu': {}, 'f:ephemeral-storage': {}, 'f:memory': {}, 'f:pods': {} }, 'f:conditions': { 'k:{"type":"DiskPressure"}': { 'f:lastHeartbeatTime': {} }, 'k:{"type":"MemoryPressure"}': { 'f:lastHeartbeatTime': {} }, 'k:{"type":"PIDPressure"}': { 'f:lastHeartbeatTime': {} }, 'k:{"type":"Ready"}': { 'f:lastHeartbeatTime': {}, 'f:lastTransitionTime': {}, 'f:message': {}, 'f:reason': {}, 'f:status': {} } }, 'f:daemonEndpoints': { 'f:kubeletEndpoint': { 'f:Port': {} } }, 'f:images': {}, 'f:nodeInfo': { 'f:bootID': {}, 'f:containerRuntimeVersion': {}, 'f:kernelVersion': {}, 'f:kubeProxyVersion': {}, 'f:kubeletVersion': {}, 'f:machineID': {}, 'f:operatingSystem': {}, 'f:osImage': {}, 'f:systemUUID': {} } } },
        },
      ],
      resourceVersion: '1',
    },
    spec: { podCIDR: podCIDRs[0], podCIDRs, providerID: `gce://p/europe-west1-b/${name}` },
    status: {
      capacity: { cpu: '8', 'ephemeral-storage': '101430960Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '32864012Ki', pods: '110' },
      allocatable: { cpu: '7910m', 'ephemeral-storage': '47093746742', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '29110540Ki', pods: '110' },
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', ready, ready === 'True' ? 'KubeletReady' : 'NodeStatusUnknown', ready === 'True' ? 'kubelet is posting ready status. AppArmor enabled' : 'Kubelet stopped posting node status.'),
        cond('NetworkUnavailable', 'False', 'RouteCreated', 'flatnet routes this node'),
      ],
      addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(seed + 5, 32),
        systemUUID: `${hex(seed + 6, 8)}-${hex(seed + 7, 4)}-${hex(seed + 8, 4)}-${hex(seed + 9, 4)}-${hex(seed + 10, 12)}`,
        bootID: `${hex(seed + 11, 8)}-${hex(seed + 12, 4)}-${hex(seed + 13, 4)}-${hex(seed + 14, 4)}-${hex(seed + 15, 12)}`,
        kernelVersion: '6.1.0-17-cloud-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://1.7.11',
        kubeletVersion: 'v1.28.4',
        kubeProxyVersion: 'v1.28.4',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: [...IMAGES, ...IMAGES.slice(0, 21).map((img) => `${img}-previous`)].map((img, i) => {
        const [repo] = img.split(':');
        return { names: [`${repo}@sha256:${hex(seed * 31 + i, 64)}`, img], sizeBytes: 10_000_000 + ((seed * 7919 + i * 104729) % 900_000_000) };
      }),
    },
  };
}
