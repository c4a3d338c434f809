// A multi-node cluster made of network namespaces, for the e2e tests and the
// demo: an underlay switch (a bridge in its own namespace), one namespace per
// node with its node IP on the underlay, a namespace playing the internet,
// a flatnet agent per node fed by a shared nodes file, and pods created
// through the real flatnet binary via libcni-driver. Every name starts with
// fnc-<tag>-; destroy() removes all of it. The host is never touched.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { libcniDriver } from './libcni.mjs';
import { startNoIptables } from './no-iptables.mjs';

$.verbose = false;
$.quiet = true;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const UNDERLAY_GW = '10.200.0.254';
export const INTERNET_IP = '203.0.113.10';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const nodeIp = (k) => `10.200.0.${10 + k}`;
export const podCidr = (k) => `10.244.${k}.0/24`;
// dualStack: the same underlay and pods in IPv6 too (ULA node and pod networks, a documentation-prefix internet).
export const UNDERLAY_GW6 = 'fd00:200::fe';
export const INTERNET_IP6 = '2001:db8:113::10';
export const CLUSTER_CIDR6 = 'fd00:244::/48';
export const nodeIp6 = (k) => `fd00:200::${10 + k}`;
export const podCidr6 = (k) => `fd00:244:0:${k}::/64`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `dualStack`: every node has an IPv6 InternalIP and podCIDR besides the IPv4
 * ones. `noIptables`: agents and pods are run in a view of the machine with
 * no iptables binaries (scripts/no-iptables.mjs), as on an nftables-only node.
 */
export async function createCluster({ nodes = 3, tag = randomBytes(2).toString('hex'), libcniDriver, bin = join(root, 'dist', 'bin'), dualStack = false, noIptables = false } = {}) {
  const p = `fnc-${tag}`;
  const work = mkdtempSync(join(tmpdir(), `${p}-`));
  const made = [];
  // The command prefix that puts a node's programs in the chosen view.
  const view = noIptables ? await startNoIptables(work) : undefined;
  const pre = view?.prefix ?? [];
  const addNs = async (name) => {
    await $`ip netns add ${name}`;
    made.push(name);
    await $`ip -n ${name} link set lo up`;
    return name;
  };
  const sw = await addNs(`${p}-sw`);
  await $`ip -n ${sw} link add br0 type bridge`;
  await $`ip -n ${sw} link set br0 up`;
  const plug = async (ns, port, addr, addr6) => {
    await $`ip -n ${sw} link add ${port} type veth peer name eth0 netns ${ns}`;
    await $`ip -n ${sw} link set ${port} master br0 up`;
    await $`ip -n ${ns} addr add ${addr}/24 dev eth0`;
    if (dualStack) {
      // Nodes that have been up a while: their underlay link-local address has passed DAD (a node solicits a
      // neighbour only from a link-local address that has), so the first packets are not the bed's start-up.
      await $`ip netns exec ${ns} sysctl -qw net.ipv6.conf.eth0.accept_dad=0`;
      await $`ip -n ${ns} addr add ${addr6}/64 dev eth0 nodad`;
    }
    await $`ip -n ${ns} link set eth0 up`;
  };
  const inet = await addNs(`${p}-inet`);
  await plug(inet, 'inet', UNDERLAY_GW, UNDERLAY_GW6);
  await $`ip -n ${inet} addr add ${INTERNET_IP}/32 dev lo`;
  if (dualStack) await $`ip -n ${inet} addr add ${INTERNET_IP6}/128 dev lo`;

  const cluster = {
    tag,
    work,
    sw,
    inet,
    nodesFile: join(work, 'nodes.json'),
    nodes: [],
    agents: new Map(),
    pods: [],
    view: pre,
  };
  for (let k = 1; k <= nodes; k++) {
    const ns = await addNs(`${p}-n${k}`);
    await plug(ns, `n${k}`, nodeIp(k), nodeIp6(k));
    await $`ip -n ${ns} route add default via ${UNDERLAY_GW}`;
    if (dualStack) await $`ip -n ${ns} -6 route add default via ${UNDERLAY_GW6}`;
    const dir = join(work, `n${k}`);
    mkdirSync(dir, { recursive: true });
    cluster.nodes.push({ k, name: `node${k}`, ns, ip: nodeIp(k), podCIDR: podCidr(k), ...(dualStack ? { ip6: nodeIp6(k), podCIDR6: podCidr6(k) } : {}), confDir: join(dir, 'net.d'), dataDir: join(dir, 'ipam'), cacheDir: join(dir, 'cache'), statusFile: join(dir, 'agent.json') });
  }

  /** A v1.Node object, as the API or `kubectl get nodes -o json` has it. */
  cluster.nodeObject = ({ name, podCIDRs, ips }) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: podCIDRs[0], podCIDRs }, status: { addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }] } });
  cluster.nodeObjects = (only = cluster.nodes.map((n) => n.name)) => cluster.nodes.filter((n) => only.includes(n.name)).map((n) => cluster.nodeObject({ name: n.name, podCIDRs: [n.podCIDR, ...(n.podCIDR6 ? [n.podCIDR6] : [])], ips: [n.ip, ...(n.ip6 ? [n.ip6] : [])] }));
  /** Writes the nodes file atomically: a v1.NodeList of the cluster's nodes (`only` limits which), plus `extra` Node objects. */
  cluster.writeNodes = (only, extra = []) => cluster.writeNodesFile(JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', items: [...cluster.nodeObjects(only), ...extra] }));
  /** Writes any text as the nodes file, atomically. */
  cluster.writeNodesFile = (text) => {
    const tmp = `${cluster.nodesFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, cluster.nodesFile);
  };

  /**
   * Starts node n's agent: nodes from the shared nodes file, or from an API
   * when `kubeconfig` is given; `args` are more flags.
   */
  cluster.startAgent = async (n, { kubeconfig, resync = 2, nodeName = n.name, args = [], logLevel = 'warn' } = {}) => {
    const source = kubeconfig ? ['--kubeconfig', kubeconfig] : ['--nodes-file', cluster.nodesFile];
    const argv = [...pre, 'ip', 'netns', 'exec', n.ns, join(bin, 'flatnet'), 'agent', '--node-name', nodeName, ...source, '--cluster-cidr', CLUSTER_CIDR, ...(dualStack ? ['--cluster-cidr', CLUSTER_CIDR6] : []), '--conf-dir', n.confDir, '--ipam-data-dir', n.dataDir, '--status-file', n.statusFile, '--resync', String(resync), ...args];
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FLATNET_LOG_LEVEL: logLevel },
    });
    n.agentLog = '';
    child.stderr.on('data', (d) => (n.agentLog += d));
    cluster.agents.set(n.name, child);
  };
  /** kill -9 of node n's agent (ip netns exec and flatnet exec in place, so this is the agent's own pid). */
  cluster.killAgent = async (n) => {
    const child = cluster.agents.get(n.name);
    if (!child) return;
    cluster.agents.delete(n.name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  };
  cluster.stopAgent = async (n) => {
    const child = cluster.agents.get(n.name);
    if (!child) return;
    cluster.agents.delete(n.name);
    // An agent that already died (a bad flag, a crash) has no exit event left to wait for.
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  };
  cluster.waitFor = async (what, fn, timeoutMs = 15000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  cluster.routes = async (n) => JSON.parse((await $`ip -n ${n.ns} -j route show proto 201`).stdout || '[]');
  /** Every route of node n's main table, as `ip -j` shows it. */
  cluster.allRoutes = async (n, family = 4) => JSON.parse((await $`ip -n ${n.ns} -${family} -j route show`).stdout || '[]');
  cluster.nexthops = async (n) => JSON.parse((await $`ip -n ${n.ns} -j nexthop show`).stdout || '[]');

  cluster.addPod = async (n, name) => {
    const conflist = join(n.confDir, '10-flatnet.conflist');
    await cluster.waitFor(`conflist on ${n.name}`, () => existsSync(conflist));
    const ns = await addNs(`${p}-${name}`);
    const id = `${name}-${tag}`;
    // libcni-driver is containerd's client library; without it, flatnet plays the runtime.
    const r = libcniDriver
      ? await $({ env: { ...process.env, CNI_PATH: `${bin}:/usr/lib/cni`, CNI_CACHE_DIR: n.cacheDir } })`${pre} ip netns exec ${n.ns} ${libcniDriver} add ${conflist} /var/run/netns/${ns} ${id}`
      : await $`${pre} ip netns exec ${n.ns} ${join(bin, 'flatnet')} add --netns /var/run/netns/${ns} --id ${id} --conf-dir ${n.confDir} --cni-path ${`${bin}:/usr/lib/cni`} --cache-dir ${n.cacheDir}`;
    const result = JSON.parse(r.stdout);
    const address = (family) => result.ips.find((i) => i.address.includes(':') === (family === 6))?.address.split('/')[0];
    const pod = { name, ns, id, node: n, ip: address(4), ...(dualStack ? { ip6: address(6) } : {}) };
    cluster.pods.push(pod);
    return pod;
  };

  cluster.destroy = async () => {
    for (const n of cluster.nodes) await cluster.stopAgent(n);
    for (const ns of made.reverse()) await $`ip netns del ${ns}`.nothrow();
    await view?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  return cluster;
}

// `node scripts/cluster.mjs demo`: a 2-node cluster, pods, traffic, cleanup.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let driver;
  try {
    driver = libcniDriver();
  } catch {
    driver = undefined; // no Go toolchain: pods are added with `flatnet add`
  }
  const c = await createCluster({ nodes: 2, libcniDriver: driver });
  try {
    c.writeNodes();
    for (const n of c.nodes) await c.startAgent(n);
    const a = await c.addPod(c.nodes[0], 'pod-a');
    const b = await c.addPod(c.nodes[1], 'pod-b');
    console.log(`pod-a ${a.ip} on node1, pod-b ${b.ip} on node2`);
    for (const n of c.nodes) console.log(`${n.name} routes:`, (await c.routes(n)).map((r) => `${r.dst} via ${r.gateway}`).join(', '));
    const server = spawn('ip', ['netns', 'exec', b.ns, process.execPath, join(root, 'test', 'helpers', 'peer-server.mjs'), '8080']);
    await sleep(400);
    const seen = await $`ip netns exec ${a.ns} ${process.execPath} ${join(root, 'test', 'helpers', 'peer-client.mjs')} ${b.ip} 8080`;
    console.log(`pod-b saw the connection from ${seen.stdout.trim()} (pod-a is ${a.ip}: no NAT)`);
    server.kill();
  } finally {
    await c.destroy();
  }
}
