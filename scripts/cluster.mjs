// A multi-node cluster made of network namespaces, for the e2e tests, the
// demo and the bench: an underlay switch (a bridge in its own namespace), one
// namespace per node with its node IP on the underlay, a namespace playing the
// internet, one playing a host on the node network that is no node, a flatnet
// agent per node fed by a shared nodes file (or an API), and pods created
// through the real flatnet binary via libcni-driver. Every name starts with fnc-<tag>-; destroy() removes all of it. The host is never
// touched.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { startNoIptables } from './no-iptables.mjs';

$.verbose = false;
$.quiet = true;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const UNDERLAY_GW = '10.200.0.254';
export const INTERNET_IP = '203.0.113.10';
// A host on the node network that is no flatnet node (an API server, load
// balancer, NFS or etcd host): it has no route to any pod subnet.
export const HOST_IP = '10.200.0.200';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const nodeIp = (k) => `10.200.0.${10 + k}`;
export const podCidr = (k) => `10.244.${k}.0/24`;
// dualStack: the same underlay and pods in IPv6 too (ULA node and pod networks, a documentation-prefix internet).
export const UNDERLAY_GW6 = 'fd00:200::fe';
export const INTERNET_IP6 = '2001:db8:113::10';
export const HOST_IP6 = 'fd00:200::c8';
export const CLUSTER_CIDR6 = 'fd00:244::/48';
export const nodeIp6 = (k) => `fd00:200::${10 + k}`;
export const podCidr6 = (k) => `fd00:244:0:${k}::/64`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jsonOut = async (p) => JSON.parse((await p).stdout || '[]');

/** A v1.Node object, as the API or `kubectl get nodes -o json` has it. */
export const nodeObject = ({ name, podCIDRs, ips }) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: { podCIDR: podCIDRs[0], podCIDRs },
  status: { addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }] },
});

class Cluster {
  /**
   * `driver`: libcni-driver's path (pods are added with `flatnet add` without
   * it). `dualStack`: every node has an IPv6 InternalIP and podCIDR besides
   * the IPv4 ones. `noIptables`: agents and pods run in a view of the machine
   * with no iptables binaries (scripts/no-iptables.mjs), as on an nftables-only node.
   */
  constructor({ tag, work, driver, bin, dualStack, view }) {
    this.tag = tag;
    this.prefix = `fnc-${tag}`;
    this.work = work;
    this.driver = driver;
    this.bin = bin;
    this.dualStack = dualStack;
    this.nodesFile = join(work, 'nodes.json');
    this.nodes = [];
    this.agents = new Map();
    this.pods = [];
    this.made = [];
    this.noIptables = view;
    // The command prefix that puts a node's programs in the chosen view.
    this.view = view?.prefix ?? [];
  }

  async addNs(name) {
    await $`ip netns add ${name}`;
    this.made.push(name);
    await $`ip -n ${name} link set lo up`;
    return name;
  }

  /** A veth from the underlay switch to `ns` (its eth0), with the given addresses. */
  async plug(ns, port, addr, addr6) {
    await $`ip -n ${this.sw} link add ${port} type veth peer name eth0 netns ${ns}`;
    await $`ip -n ${this.sw} link set ${port} master br0 up`;
    await $`ip -n ${ns} addr add ${addr}/24 dev eth0`;
    if (this.dualStack) {
      // Nodes that have been up a while: their underlay link-local address has passed DAD (a node solicits a
      // neighbour only from a link-local address that has), so the first packets are not the bed's start-up.
      await $`ip netns exec ${ns} sysctl -qw net.ipv6.conf.eth0.accept_dad=0`;
      await $`ip -n ${ns} addr add ${addr6}/64 dev eth0 nodad`;
    }
    await $`ip -n ${ns} link set eth0 up`;
  }

  async makeUnderlay() {
    this.sw = await this.addNs(`${this.prefix}-sw`);
    await $`ip -n ${this.sw} link add br0 type bridge`;
    await $`ip -n ${this.sw} link set br0 up`;
    this.inet = await this.addNs(`${this.prefix}-inet`);
    await this.plug(this.inet, 'inet', UNDERLAY_GW, UNDERLAY_GW6);
    await $`ip -n ${this.inet} addr add ${INTERNET_IP}/32 dev lo`;
    if (this.dualStack) await $`ip -n ${this.inet} addr add ${INTERNET_IP6}/128 dev lo`;
    // Only its connected network: replies to a pod's own address go nowhere.
    this.host = await this.addNs(`${this.prefix}-host`);
    await this.plug(this.host, 'host', HOST_IP, HOST_IP6);
  }

  async makeNode(k) {
    const ns = await this.addNs(`${this.prefix}-n${k}`);
    await this.plug(ns, `n${k}`, nodeIp(k), nodeIp6(k));
    await $`ip -n ${ns} route add default via ${UNDERLAY_GW}`;
    if (this.dualStack) await $`ip -n ${ns} -6 route add default via ${UNDERLAY_GW6}`;
    const dir = join(this.work, `n${k}`);
    mkdirSync(dir, { recursive: true });
    const six = this.dualStack ? { ip6: nodeIp6(k), podCIDR6: podCidr6(k) } : {};
    this.nodes.push({ k, name: `node${k}`, ns, ip: nodeIp(k), podCIDR: podCidr(k), ...six, confDir: join(dir, 'net.d'), dataDir: join(dir, 'ipam'), cacheDir: join(dir, 'cache'), statusFile: join(dir, 'agent.json') });
  }

  nodeObject(spec) {
    return nodeObject(spec);
  }

  /** The cluster's nodes as v1.Node objects (`only` limits which). */
  nodeObjects(only = this.nodes.map((n) => n.name)) {
    return this.nodes.filter((n) => only.includes(n.name)).map((n) => nodeObject({ name: n.name, podCIDRs: [n.podCIDR, ...(n.podCIDR6 ? [n.podCIDR6] : [])], ips: [n.ip, ...(n.ip6 ? [n.ip6] : [])] }));
  }

  /** Writes the nodes file atomically: a v1.NodeList of the cluster's nodes (`only` limits which), plus `extra` Node objects. */
  writeNodes(only, extra = []) {
    this.writeNodesFile(JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', items: [...this.nodeObjects(only), ...extra] }));
  }

  /** Writes any text as the nodes file, atomically. */
  writeNodesFile(text) {
    const tmp = `${this.nodesFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.nodesFile);
  }

  /** Starts node n's agent: nodes from the shared nodes file, or from an API when `kubeconfig` is given; `args` are more flags. */
  async startAgent(n, { kubeconfig, resync = 2, nodeName = n.name, args = [], logLevel = 'warn' } = {}) {
    const source = kubeconfig ? ['--kubeconfig', kubeconfig] : ['--nodes-file', this.nodesFile];
    const cidrs = ['--cluster-cidr', CLUSTER_CIDR, ...(this.dualStack ? ['--cluster-cidr', CLUSTER_CIDR6] : [])];
    const argv = [...this.view, 'ip', 'netns', 'exec', n.ns, join(this.bin, 'flatnet'), 'agent', '--node-name', nodeName, ...source, ...cidrs, '--conf-dir', n.confDir, '--ipam-data-dir', n.dataDir, '--status-file', n.statusFile, '--resync', String(resync), ...args];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FLATNET_LOG_LEVEL: logLevel } });
    n.agentLog = '';
    child.stderr.on('data', (d) => (n.agentLog += d));
    this.agents.set(n.name, child);
  }

  /** Ends node n's agent with `signal` and waits for it; one that already died has no exit event left to wait for. */
  async signalAgent(n, signal) {
    const child = this.agents.get(n.name);
    if (!child) return;
    this.agents.delete(n.name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill(signal);
    });
  }

  /** kill -9 of node n's agent (ip netns exec and flatnet exec in place, so this is the agent's own pid). */
  killAgent(n) {
    return this.signalAgent(n, 'SIGKILL');
  }

  stopAgent(n) {
    return this.signalAgent(n, 'SIGTERM');
  }

  async waitFor(what, fn, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  routes(n) {
    return jsonOut($`ip -n ${n.ns} -j route show proto 201`);
  }

  /** Every route of node n's main table, as `ip -j` shows it. */
  allRoutes(n, family = 4) {
    return jsonOut($`ip -n ${n.ns} -${family} -j route show`);
  }

  nexthops(n) {
    return jsonOut($`ip -n ${n.ns} -j nexthop show`);
  }

  /** A pod on node n, attached with the conflist its agent wrote. */
  async addPod(n, name) {
    const conflist = join(n.confDir, '10-flatnet.conflist');
    await this.waitFor(`conflist on ${n.name}`, () => existsSync(conflist));
    const ns = await this.addNs(`${this.prefix}-${name}`);
    const id = `${name}-${this.tag}`;
    const cniPath = `${this.bin}:/usr/lib/cni`;
    // libcni-driver is containerd's client library; without it, flatnet plays the runtime.
    const r = this.driver
      ? await $({ env: { ...process.env, CNI_PATH: cniPath, CNI_CACHE_DIR: n.cacheDir } })`${this.view} ip netns exec ${n.ns} ${this.driver} add ${conflist} /var/run/netns/${ns} ${id}`
      : await $`${this.view} ip netns exec ${n.ns} ${join(this.bin, 'flatnet')} add --netns /var/run/netns/${ns} --id ${id} --conf-dir ${n.confDir} --cni-path ${cniPath} --cache-dir ${n.cacheDir}`;
    const result = JSON.parse(r.stdout);
    const address = (family) => result.ips.find((i) => i.address.includes(':') === (family === 6))?.address.split('/')[0];
    const pod = { name, ns, id, node: n, ip: address(4), ...(this.dualStack ? { ip6: address(6) } : {}) };
    this.pods.push(pod);
    return pod;
  }

  async destroy() {
    for (const n of this.nodes) await this.stopAgent(n);
    for (const ns of this.made.reverse()) await $`ip netns del ${ns}`.nothrow();
    await this.noIptables?.stop();
    rmSync(this.work, { recursive: true, force: true });
  }
}

/** Builds the underlay and `nodes` nodes; options as Cluster's. */
export async function createCluster({ nodes = 3, tag = randomBytes(2).toString('hex'), libcniDriver: driver, bin = join(root, 'dist', 'bin'), dualStack = false, noIptables = false } = {}) {
  const work = mkdtempSync(join(tmpdir(), `fnc-${tag}-`));
  const view = noIptables ? await startNoIptables(work) : undefined;
  const cluster = new Cluster({ tag, work, driver, bin, dualStack, view });
  try {
    await cluster.makeUnderlay();
    for (let k = 1; k <= nodes; k++) await cluster.makeNode(k);
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
}
