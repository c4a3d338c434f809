#!/usr/bin/env node
// The agent against a real kube-apiserver holding thousands of Node objects
// as kubelet reports them (images, conditions, nodeInfo; managedFields
// added by the API server), no kubelet behind them. Run as root, Kubernetes
// built (node scripts/setup.mjs kube):
//
//   node scripts/kube/agent-scale.mjs [--nodes 5000] [--heartbeat-rate 33] [--keep]
//
// It brings up the harness's control plane (no worker), creates the Nodes
// through the API, then starts `flatnet agent` (dist/bin/flatnet-cli) in a
// namespace of its own on the node network, with a connected /16 for the
// peers' InternalIPs, and measures: start → every peer route in the kernel,
// peak RSS, the longest /healthz answer; then heartbeat-only status updates
// (lastHeartbeatTime, as kubelet posts them) at the given rate for 30 s:
// the agent's CPU and the route writes they caused (none expected).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { realSizedNode } from '../../test/helpers/real-node.mjs';
import { createKubeCluster, ROOT, sleep } from './cluster.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('nodes', 5000);
const HEARTBEATS = arg('heartbeat-rate', 33);
const PROTO = 201;

/**
 * A real-sized Node (test/helpers/real-node.mjs, the API stand-in's too) as a
 * client may create it: what the API server sets itself (uid,
 * resourceVersion, creationTimestamp, managedFields) left out, its
 * heartbeats fresh.
 */
function nodeToCreate(i, { name = `scale-${String(i).padStart(5, '0')}`, ip, podCIDR }) {
  const { metadata, ...rest } = realSizedNode({ name, podCIDRs: [podCIDR], ips: [ip], heartbeat: new Date().toISOString(), seed: i });
  const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, managedFields: _mf, ...own } = metadata;
  return { ...rest, metadata: own };
}

/** The API server as the admin, by HTTPS with the harness's client certificate. */
function apiClient(pki, server) {
  const tls = { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) };
  const url = new URL(server);
  return (method, path, body, contentType = 'application/json') =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const req = request({ host: url.hostname, port: url.port, method, path, ...tls, headers: { 'content-type': contentType, ...(data ? { 'content-length': data.length } : {}) } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve(text);
        });
      });
      req.on('error', reject);
      req.end(data);
    });
}

async function pool(items, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const procStat = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in seconds (USER_HZ 100)
};
const peakRss = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** The agent's namespace on the node network, with a connected /16 for the peers' InternalIPs (routes via them install). */
async function agentNetns(c) {
  const ns = `${c.prefix}-agent`;
  await c.addNetns(ns);
  await $`ip -n ${c.sw} link add pagent type veth peer name eth0 netns ${ns}`;
  await $`ip -n ${c.sw} link set pagent master br0 up`;
  await $`ip -n ${ns} addr add 10.201.0.50/24 dev eth0`;
  await $`ip -n ${ns} link set eth0 up`;
  // A veth pair with both ends here (this kernel may have no dummy driver), as the bench does.
  await $`ip -n ${ns} link add scale0 type veth peer name scale1`;
  await $`ip -n ${ns} addr add 10.128.0.1/16 dev scale0`;
  await $`ip -n ${ns} link set scale0 up`;
  await $`ip -n ${ns} link set scale1 up`;
  return ns;
}

/** Probes /healthz every 100 ms until stopped: the longest answer, and how many took over a second. */
function healthProber(ns) {
  const h = { max: 0, n: 0, over1s: 0, on: true };
  h.done = (async () => {
    while (h.on) {
      const t0 = Date.now();
      const r = await $({ nothrow: true })`ip netns exec ${ns} curl -s -o /dev/null -m 5 -w %{http_code} http://127.0.0.1:9742/healthz`;
      const ms = Date.now() - t0;
      if (r.stdout === '200' || r.stdout === '503') {
        h.n++;
        h.max = Math.max(h.max, ms);
        if (ms > 1000) h.over1s++;
      }
      await sleep(100);
    }
  })();
  return h;
}

/** kubelet's status posts that change nothing routed, `rate` a second for `seconds`; returns how many. */
async function heartbeats(api, nodes, rate, seconds) {
  let sent = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const tick = Date.now();
    const batch = Array.from({ length: rate }, () => nodes[sent++ % nodes.length].metadata.name);
    const now = new Date().toISOString();
    const patch = { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, reason: 'KubeletReady', message: 'kubelet is posting ready status. AppArmor enabled' }] } };
    await pool(batch, 8, (name) => api('PATCH', `/api/v1/nodes/${name}/status`, patch, 'application/strategic-merge-patch+json'));
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  return sent;
}

/**
 * Runs this script as an API worker inside `ns` (on the node network): the API
 * server's address exists only inside the cluster's namespaces, never from
 * this process's own (the machine's) network namespace.
 */
function apiWorker(ns, job) {
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), '--api-worker', JSON.stringify(job)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1));
}

const peerNodes = (n) => Array.from({ length: n }, (_, i) => nodeToCreate(i, { ip: `10.128.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, podCIDR: `10.${64 + Math.floor(i / 256)}.${i % 256}.0/24` }));

/** The worker's jobs: create the Nodes (the agent's own first), or post heartbeats. */
async function workerMain(job) {
  const api = apiClient(job.pki, job.server);
  const nodes = peerNodes(job.nodes);
  if (job.op === 'create') {
    const self = nodeToCreate(99999, { name: 'scale-agent', ip: '10.201.0.50', podCIDR: '10.127.255.0/24' });
    const t = Date.now();
    await pool([self, ...nodes], 16, (n) => api('POST', '/api/v1/nodes', n));
    const listBytes = Buffer.byteLength(await api('GET', '/api/v1/nodes'));
    return { createS: (Date.now() - t) / 1000, listBytes };
  }
  return { sent: await heartbeats(api, nodes, job.rate, job.seconds) };
}

async function measure(c) {
  const pki = join(c.dir, 'pki');
  const kubeconfig = join(pki, 'admin.kubeconfig');
  const server = JSON.parse(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster.server;
  const ns = await agentNetns(c);
  const { createS, listBytes } = apiWorker(ns, { op: 'create', nodes: N, pki, server });
  console.log(`created ${N + 1} Nodes in ${createS.toFixed(1)} s; a full LIST is ${(listBytes / 1e6).toFixed(1)} MB (${Math.round(listBytes / (N + 1))} B/node)`);

  const work = join(c.dir, 'agent');
  execFileSync('mkdir', ['-p', work]);
  const t = Date.now();
  // ip netns exec execs the agent: the pid is the agent's.
  const agent = spawn('ip', ['netns', 'exec', ns, join(ROOT, 'dist', 'bin', 'flatnet-cli'), 'agent', '--node-name', 'scale-agent', '--kubeconfig', kubeconfig, '--cluster-cidr', '10.64.0.0/10', '--conf-dir', join(work, 'net.d'), '--status-file', join(work, 'status.json'), '--ipam-data-dir', join(work, 'ipam'), '--health-addr', '127.0.0.1:9742', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  c.extra.push(agent);
  const health = healthProber(ns);
  const count = () => execFileSync('ip', ['-n', ns, '-4', 'route', 'show', 'proto', String(PROTO)], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
  let routes = 0;
  while ((routes = count()) < N && Date.now() - t < 120_000) await sleep(50);
  const startS = (Date.now() - t) / 1000;
  console.log(`agent: start → ${routes}/${N} routes in ${startS.toFixed(2)} s; peak RSS ${peakRss(agent.pid).toFixed(0)} MiB; /healthz max ${health.max} ms`);

  await sleep(3000);
  const cpu0 = procStat(agent.pid);
  const w0 = Date.now();
  const { sent } = apiWorker(ns, { op: 'heartbeat', nodes: N, pki, server, rate: HEARTBEATS, seconds: 30 });
  const cores = (procStat(agent.pid) - cpu0) / ((Date.now() - w0) / 1000);
  health.on = false;
  await health.done;
  const rss = peakRss(agent.pid);
  console.log(`heartbeats: ${sent} status updates at ${HEARTBEATS}/s for 30 s: agent ${cores.toFixed(3)} cores (the API worker's own CPU not counted); routes ${count()}; peak RSS ${rss.toFixed(0)} MiB; /healthz ${health.n} probes, max ${health.max} ms, ${health.over1s} over 1 s`);
  console.log(JSON.stringify({ bench: 'agent-real-apiserver', nodes: N, listMB: listBytes / 1e6, bytesPerNode: Math.round(listBytes / (N + 1)), startS, routes, peakRssMiB: Math.round(rss), heartbeatRate: HEARTBEATS, heartbeatCores: cores, healthzMaxMs: health.max, healthzOver1s: health.over1s }));
  agent.kill('SIGTERM');
  await Promise.race([new Promise((r) => agent.once('exit', r)), sleep(10_000)]);
}

async function main() {
  let made;
  // Ctrl-C while anything runs removes what was made (the cluster's namespaces, processes, mounts; the agent with them).
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void (made ? made.down() : Promise.resolve()).finally(() => process.exit(130)));
  const c = await createKubeCluster({ workers: 0, onCreate: (x) => (made = x) });
  try {
    await measure(c);
  } finally {
    if (process.argv.includes('--keep')) console.log(`kept: kubectl --kubeconfig ${join(c.dir, 'pki', 'admin.kubeconfig')} get nodes`);
    else await c.down();
  }
}

const workerAt = process.argv.indexOf('--api-worker');
if (workerAt > 0) {
  console.log(JSON.stringify(await workerMain(JSON.parse(process.argv[workerAt + 1]))));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
