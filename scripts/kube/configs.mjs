// The configuration files of a harness node's daemons, as pure functions of
// the cluster: what kind's node image and kubeadm would write, less what a
// namespace node cannot have (its own cgroup tree, global sysctls).
export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/12';
export const PAUSE_IMAGE = 'k8s.gcr.io/pause:3.2';

/** containerd 1.6 (config v2) at a node's default paths, CNI from /opt/cni/bin and /etc/cni/net.d. */
export function containerdConfig() {
  return [
    'version = 2',
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    '  disable_apparmor = true',
    // The node cannot lower oom_score_adj below its own.
    '  restrict_oom_score_adj = true',
    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '    runtime_type = "io.containerd.runc.v2"',
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    '    bin_dir = "/opt/cni/bin"',
    '    conf_dir = "/etc/cni/net.d"',
    '',
  ].join('\n');
}

/** kubelet's KubeletConfiguration: cgroupfs without QoS cgroups, the global sysctls only checked. */
export function kubeletConfig({ clientCAFile }) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    oomScoreAdj: 0,
    resolvConf: '',
    // Checks vm.overcommit_memory & co. instead of writing them (the node
    // shows it files with the values it wants).
    protectKernelDefaults: true,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile } },
    authorization: { mode: 'Webhook' },
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    // No registry: an image kubelet collects could never come back.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    healthzBindAddress: '127.0.0.1',
  };
}

/** kubelet's flags besides its config file. */
export function kubeletArgs({ config, kubeconfig, nodeIp, name, controlPlane }) {
  return [
    `--config=${config}`,
    `--kubeconfig=${kubeconfig}`,
    '--container-runtime=remote',
    '--container-runtime-endpoint=unix:///run/containerd/containerd.sock',
    `--pod-infra-container-image=${PAUSE_IMAGE}`,
    `--node-ip=${nodeIp}`,
    `--hostname-override=${name}`,
    // The role label is not kubelet's to set (NodeRestriction): the cluster labels the node.
    ...(controlPlane ? ['--register-with-taints=node-role.kubernetes.io/master=:NoSchedule'] : []),
    '--v=1',
  ];
}

/** kube-proxy in iptables mode, leaving the machine-wide conntrack settings alone. */
export function kubeProxyConfig({ kubeconfig, name }) {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    clusterCIDR: CLUSTER_CIDR,
    hostnameOverride: name,
    oomScoreAdj: 0,
    // 0: kube-proxy does not write nf_conntrack_max or the TCP timeouts, which are not per node here.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '127.0.0.1:10256',
  };
}
