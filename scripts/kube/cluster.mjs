// A kind-like Kubernetes cluster on network + mount namespace nodes: real
// etcd, kube-apiserver, controller-manager (assigning podCIDRs), scheduler,
// and on every node containerd (CRI), kubelet and kube-proxy (iptables).
// The control-plane node is a tainted node, as kind's is. flatnet is
// installed as a user would: its image imported into each node's containerd
// and `kubectl apply -f conf/kubernetes/flatnet.yaml` unchanged.
//
// Every name starts with fnk-<tag>-; everything lives in the cluster's
// directory and its namespaces, and down() removes all of it. The machine's
// interfaces, routes, firewall and sysctls are never touched.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { kubeBinDir } from './build.mjs';
import { CLUSTER_CIDR, containerdConfig, kubeletArgs, kubeletConfig, kubeProxyConfig, SERVICE_CIDR } from './configs.mjs';
import { agnhostArchive, busyboxArchive, pauseArchive } from './images.mjs';
import { KubeNode } from './node.mjs';
import { clientKubeconfig, makePki } from './pki.mjs';

$.verbose = false;
$.quiet = true;

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export { CLUSTER_CIDR, SERVICE_CIDR };
export const API_SERVICE_IP = '10.96.0.1';
const UNDERLAY_GW = '10.201.0.1';
const nodeIp = (i) => `10.201.0.${10 + i}`;
/** Debian's Go plugins a kind node image carries beside the pod network's. */
const NODE_PLUGINS = ['loopback', 'host-local', 'portmap', 'ptp', 'bridge'];
const CGROUP_ROOT = '/sys/fs/cgroup';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** cgroup directories up to two levels under each hierarchy (what a cluster may add). */
function cgroupDirs() {
  const out = new Set();
  if (!existsSync(CGROUP_ROOT)) return out;
  for (const h of readdirSync(CGROUP_ROOT)) {
    const base = join(CGROUP_ROOT, h);
    const walk = (dir, depth) => {
      let names = [];
      try {
        names = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of names) {
        if (!e.isDirectory()) continue;
        const p = join(dir, e.name);
        out.add(p);
        if (depth < 3) walk(p, depth + 1);
      }
    };
    walk(base, 1);
  }
  return out;
}

export class KubeCluster {
  constructor({ tag, dir, workers }) {
    this.tag = tag;
    this.prefix = `fnk-${tag}`;
    this.dir = dir;
    this.bin = kubeBinDir();
    this.workerCount = workers;
    this.nodes = [];
    this.netns = [];
    this.sw = `${this.prefix}-sw`;
    this.cgroupsBefore = cgroupDirs();
    this.timings = {};
    this.extra = [];
  }

  get cp() {
    return this.nodes[0];
  }

  get workers() {
    return this.nodes.slice(1);
  }

  k(name) {
    return join(this.bin, name);
  }

  /** Refuses to make anything once down() has begun (an interrupt while up() runs). */
  assertLive() {
    if (this.aborted) throw new Error('the cluster is being removed');
  }

  async addNetns(name) {
    this.assertLive();
    await $`ip netns add ${name}`;
    this.netns.push(name);
    await $`ip -n ${name} link set lo up`;
  }

  async underlay() {
    await this.addNetns(this.sw);
    await $`ip -n ${this.sw} link add br0 type bridge`;
    await $`ip -n ${this.sw} addr add ${UNDERLAY_GW}/24 dev br0`;
    await $`ip -n ${this.sw} link set br0 up`;
  }

  async makeNode(i, name) {
    const netns = `${this.prefix}-${name}`;
    await this.addNetns(netns);
    const port = `p${i}`;
    await $`ip -n ${this.sw} link add ${port} type veth peer name eth0 netns ${netns}`;
    await $`ip -n ${this.sw} link set ${port} master br0 up`;
    await $`ip -n ${netns} addr add ${nodeIp(i)}/24 dev eth0`;
    await $`ip -n ${netns} link set eth0 up`;
    await $`ip -n ${netns} route add default via ${UNDERLAY_GW}`;
    // Nodes forward, as kind's do (the agent in its unprivileged container cannot turn it on).
    await $`ip netns exec ${netns} sysctl -qw net.ipv4.ip_forward=1`;
    const node = new KubeNode({ name, netns, dir: join(this.dir, 'nodes', name), ip: nodeIp(i) });
    this.nodes.push(node);
    await node.boot();
    this.assertLive();
    return node;
  }

  async pki() {
    const server = `https://${this.cp.ip}:6443`;
    this.pki = await makePki(join(this.dir, 'pki'), { sans: [API_SERVICE_IP, this.cp.ip, '127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] });
    const kc = (name, user, group) => clientKubeconfig(this.pki, name, { user, group, server });
    this.kubeconfig = await kc('admin', 'flatnet-admin', 'system:masters');
    this.kcm = await kc('controller-manager', 'system:kube-controller-manager');
    this.sched = await kc('scheduler', 'system:kube-scheduler');
    this.proxy = await kc('kube-proxy', 'system:kube-proxy');
    await kc('apiserver-kubelet-client', 'kube-apiserver-kubelet-client', 'system:masters');
    this.server = server;
    for (const n of this.nodes) await this.nodeIdentity(n);
  }

  /** kubelet's client certificate, as the Node authorizer wants it: system:node:<name> in system:nodes. */
  async nodeIdentity(n) {
    n.kubeconfig = await clientKubeconfig(this.pki, `kubelet-${n.name}`, { user: `system:node:${n.name}`, group: 'system:nodes', server: this.server });
  }

  /** A worker joining the running cluster (its images loaded, flatnet's only when asked). */
  async addWorker(name) {
    const node = await this.makeNode(this.nodes.length, name);
    await this.nodeIdentity(node);
    await this.nodeDaemons(node, { controlPlane: false });
    return node;
  }

  async controlPlane() {
    const cp = this.cp;
    const p = (f) => join(this.pki.dir, f);
    cp.start('etcd', 'etcd', ['--name', 'cp', '--data-dir', join(cp.dir, 'etcd'), '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379', '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'cp=http://127.0.0.1:2380', '--log-level', 'warn']);
    cp.start('kube-apiserver', this.k('kube-apiserver'), [
      '--etcd-servers=http://127.0.0.1:2379',
      `--advertise-address=${cp.ip}`,
      '--secure-port=6443',
      '--insecure-port=0',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--client-ca-file=${this.pki.ca}`,
      `--tls-cert-file=${this.pki.apiserverCert}`,
      `--tls-private-key-file=${this.pki.apiserverKey}`,
      `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${this.pki.saPub}`,
      `--service-account-signing-key-file=${this.pki.saKey}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      '--v=1',
    ]);
    await this.waitFor('the API server', async () => (await this.kubectl(['get', '--raw', '/readyz'], { nothrow: true })).exitCode === 0, 90_000);
    cp.start('kube-controller-manager', this.k('kube-controller-manager'), [
      `--kubeconfig=${this.kcm}`,
      `--authentication-kubeconfig=${this.kcm}`,
      `--authorization-kubeconfig=${this.kcm}`,
      '--allocate-node-cidrs',
      `--cluster-cidr=${CLUSTER_CIDR}`,
      '--node-cidr-mask-size=24',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--use-service-account-credentials',
      `--root-ca-file=${this.pki.ca}`,
      `--service-account-private-key-file=${this.pki.saKey}`,
      '--port=0',
      '--leader-elect=false',
      '--v=1',
    ]);
    cp.start('kube-scheduler', this.k('kube-scheduler'), [`--kubeconfig=${this.sched}`, `--authentication-kubeconfig=${this.sched}`, `--authorization-kubeconfig=${this.sched}`, '--port=0', '--leader-elect=false', '--v=1']);
  }

  /** containerd, kubelet and kube-proxy on `node`, with the images every node has. */
  async nodeDaemons(node, { controlPlane }) {
    await node.run('sh', ['-c', `cp ${NODE_PLUGINS.map((p) => `/usr/lib/cni/${p}`).join(' ')} /opt/cni/bin/`]);
    writeFileSync(join(node.dir, 'containerd.toml'), containerdConfig());
    writeFileSync(join(node.dir, 'kubelet.json'), JSON.stringify(kubeletConfig({ clientCAFile: this.pki.ca })));
    writeFileSync(join(node.dir, 'kube-proxy.json'), JSON.stringify(kubeProxyConfig({ kubeconfig: this.proxy, name: node.name })));
    node.controlPlane = controlPlane;
    await this.startContainerd(node);
    for (const tar of this.images) await node.importImage(tar);
    this.startKubelet(node);
    node.start('kube-proxy', this.k('kube-proxy'), [`--config=${join(node.dir, 'kube-proxy.json')}`, '--v=1']);
  }

  async startContainerd(node) {
    node.start('containerd', 'containerd', ['--config', join(node.dir, 'containerd.toml')]);
    await this.waitFor(`containerd on ${node.name}`, async () => (await node.run('ctr', ['version'], { nothrow: true })).exitCode === 0, 30_000);
  }

  startKubelet(node) {
    node.start('kubelet', this.k('kubelet'), kubeletArgs({ config: join(node.dir, 'kubelet.json'), kubeconfig: node.kubeconfig, nodeIp: node.ip, name: node.name, controlPlane: node.controlPlane }));
  }

  /** Stops kubelet and containerd on `node` (the containers keep running, as on a real node) and starts them again. */
  async restartRuntime(node) {
    await node.stopDaemon('kubelet');
    await node.stopDaemon('containerd');
    await this.startContainerd(node);
    this.startKubelet(node);
  }

  async up() {
    const t0 = Date.now();
    mkdirSync(this.dir, { recursive: true });
    this.images = [await pauseArchive(), await busyboxArchive(), await agnhostArchive()];
    await this.underlay();
    await this.makeNode(0, 'control-plane');
    for (let i = 1; i <= this.workerCount; i++) await this.makeNode(i, `worker${i > 1 ? i : ''}`);
    await this.pki();
    await this.controlPlane();
    await Promise.all(this.nodes.map((n, i) => this.nodeDaemons(n, { controlPlane: i === 0 })));
    await this.waitFor('every node registered with a podCIDR', async () => {
      for (const n of this.nodes) n.assertRunning();
      const nodes = await this.getJson(['get', 'nodes']);
      return nodes.items.length === this.nodes.length && nodes.items.every((n) => n.spec.podCIDR);
    }, 120_000);
    await this.kubectl(['label', 'node', this.cp.name, 'node-role.kubernetes.io/master=']);
    this.timings.up = (Date.now() - t0) / 1000;
  }

  /** kubectl against this cluster (run in the control-plane node's network namespace). */
  kubectl(args, { input, nothrow = false } = {}) {
    return $({ input, nothrow })`nsenter --net=${this.cp.netnsPath} -- ${this.k('kubectl')} --kubeconfig ${this.kubeconfig} ${args}`;
  }

  async getJson(args) {
    return JSON.parse((await this.kubectl([...args, '-o', 'json'])).stdout);
  }

  async waitFor(what, fn, timeoutMs = 60_000, everyMs = 500) {
    const t0 = Date.now();
    let last;
    while (Date.now() - t0 < timeoutMs) {
      try {
        if (await fn()) return (Date.now() - t0) / 1000;
      } catch (e) {
        if (/ exited \(/.test(e.message)) throw e;
        last = e;
      }
      await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`);
  }

  /** Imports an image archive into every node's containerd (kind load image-archive). */
  async loadImage(tar) {
    await Promise.all(this.nodes.map((n) => n.importImage(tar)));
  }

  /** Applies the DaemonSet manifest unchanged and waits for every node to turn Ready. */
  async installFlatnet(imageTar, manifest = join(ROOT, 'conf', 'kubernetes', 'flatnet.yaml')) {
    const t0 = Date.now();
    await this.loadImage(imageTar);
    await this.kubectl(['apply', '-f', manifest]);
    await this.waitFor('every node Ready', async () => {
      const nodes = await this.getJson(['get', 'nodes']);
      return nodes.items.every((n) => n.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
    }, 180_000);
    this.timings.ready = (Date.now() - t0) / 1000;
  }

  /** Runs `n` replicas of agnhost netexec (port 8080) spread over the workers; returns the pods. */
  async deployNetexec(name, replicas, { nodeName } = {}) {
    const spec = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'default' },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            ...(nodeName ? { nodeName } : {}),
            terminationGracePeriodSeconds: 1,
            affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: name } } } }] } },
            containers: [{ name: 'netexec', image: 'flatnet.local/agnhost:2.21', imagePullPolicy: 'Never', args: ['netexec', '--http-port=8080', '--udp-port=8081'], ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 } }],
          },
        },
      },
    };
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify(spec) });
    await this.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=180s']);
    return this.podsOf(name);
  }

  async podsOf(app) {
    const pods = await this.getJson(['get', 'pods', '-l', `app=${app}`]);
    return pods.items.filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp).map((p) => ({ name: p.metadata.name, node: p.spec.nodeName, ip: p.status.podIP }));
  }

  /** The node (by name). */
  node(name) {
    return this.nodes.find((n) => n.name === name);
  }

  /**
   * Asks the netexec pod `from` to dial `host:port` and return what the far
   * end saw as its client (agnhost's /dial?request=clientip), from the
   * control-plane node. Returns the client address the far end saw, or
   * throws.
   */
  async dialClientIp(from, host, port = 8080, protocol = 'http') {
    const url = `http://${from.ip}:8080/dial?request=clientip&protocol=${protocol}&host=${host}&port=${port}&tries=1`;
    const r = await this.cp.run('curl', ['-sS', '--max-time', '10', url]);
    const body = JSON.parse(r.stdout);
    if (!body.responses?.length) throw new Error(`${from.name} -> ${host}:${port}: ${r.stdout}`);
    return body.responses[0].replace(/:\d+$/, '');
  }

  get underlayGateway() {
    return UNDERLAY_GW;
  }

  /** Runs agnhost with `args` on the underlay's router: a host on the node network that is not a node. */
  startOnUnderlay(name, args) {
    const child = spawn('ip', ['netns', 'exec', this.sw, this.k('agnhost'), ...args], { stdio: 'ignore' });
    this.extra.push(child);
    return child;
  }

  /** Removes everything: processes, mounts (with each node's mount namespace), namespaces, cgroups, the directory. */
  async down({ keepDir = false } = {}) {
    this.aborted = true;
    for (const p of this.extra) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const n of [...this.nodes].reverse()) await n.stop().catch((e) => process.stderr.write(`flatnet: stopping ${n.name}: ${e.message}\n`));
    for (const ns of this.netns.reverse()) await $({ nothrow: true })`ip netns del ${ns}`;
    this.netns = [];
    // The pods' cgroups (containerd's, kubelet's) are empty once their
    // processes are gone; only directories that appeared since up() go.
    const added = [...cgroupDirs()].filter((p) => !this.cgroupsBefore.has(p)).sort((a, b) => b.length - a.length);
    for (const p of added) {
      try {
        if (statSync(p).isDirectory()) rmdirSync(p);
      } catch {
        // busy or gone
      }
    }
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Brings a cluster up (control plane + `workers` workers); on failure tears
 * down what it made and rethrows with the failing daemon's log tail.
 */
export async function createKubeCluster({ workers = 2, tag = randomBytes(2).toString('hex'), dir, onCreate } = {}) {
  const cluster = new KubeCluster({ tag, dir: dir ?? join(tmpdir(), `flatnet-k8s-${tag}`), workers });
  // The caller can remove a cluster that is still coming up (Ctrl-C).
  onCreate?.(cluster);
  try {
    await cluster.up();
  } catch (e) {
    if (cluster.aborted) throw e;
    const tails = cluster.nodes.flatMap((n) => [...n.procs.keys()].map((p) => `--- ${n.name}/${p}\n${n.logOf(p).slice(-1500)}`)).join('\n');
    await cluster.down({ keepDir: Boolean(process.env.FLATNET_KEEP_FAILED) });
    e.message = `${e.message}\n${tails}`;
    throw e;
  }
  return cluster;
}
