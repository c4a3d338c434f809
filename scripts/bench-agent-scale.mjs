#!/usr/bin/env node
// The agent at cluster scale, against the API stand-in
// (test/helpers/kube-api-stub.mjs, which answers as kube-apiserver 1.20:
// watch cache, pages, gzip) serving real-sized Nodes (13.4 KB each, as
// kubelet reports them), all in one namespace of our own (fnb-<pid>-scale*):
//   start -> all routes: from the agent's start until the kernel has a route
//     per peer, beside the floor (`ip -batch` installing the same routes);
//   peak RSS of the agent (VmHWM);
//   heartbeat CPU: cores the agent uses while kubelet-like status updates
//     (nothing routed changes) arrive at 33/s;
//   /healthz: p99 and longest probe while all of this runs (10 probes/s).
// Run as root: node scripts/bench-agent-scale.mjs [--sizes 1000,5000,10000] [--cli dist/bin/flatnet-cli]
// (npm run bench runs it as its agent-scale section.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HEALTH_PORT = 19742;

/** The stand-in in `ns`, driven by JSON lines. */
async function standIn(ns) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(root, 'test/helpers/kube-api-stub.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reports = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    reports.push(JSON.parse(l));
    for (const w of waiters.splice(0)) w();
  });
  const until = async (pred) => {
    while (!pred()) await new Promise((r) => waiters.push(r));
  };
  await until(() => reports.some((r) => r.port));
  return {
    port: reports.find((r) => r.port).port,
    reports,
    async send(cmd) {
      const line = JSON.stringify(cmd);
      child.stdin.write(`${line}\n`);
      await until(() => reports.some((r) => r.done === line));
    },
    stop: () => child.stdin.end(),
  };
}

const routeCount = (ns) => Number(execFileSync('sh', ['-c', `ip -n ${ns} -4 route show proto 201 | wc -l`], { encoding: 'utf8' }).trim());
const vmHwmMiB = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ
};

/** Probes /healthz 10 times a second until stopped; the latencies (a failed probe counts as its time, and as failed). */
function healthProbes(ns) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(root, 'test/helpers/probe.mjs'), `http://127.0.0.1:${HEALTH_PORT}/healthz`, '5000', '100000', '100'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const out = [];
  createInterface({ input: child.stdout }).on('line', (l) => out.push(JSON.parse(l)));
  return {
    stop() {
      child.kill();
      const ms = out.map((p) => p.ms).sort((a, b) => a - b);
      return { probes: ms.length, failed: out.filter((p) => !p.ok && p.error).length, p99: ms[Math.floor(ms.length * 0.99)] ?? NaN, max: ms.at(-1) ?? NaN };
    },
  };
}

/** The floor: seconds `ip -batch` takes writing the same routes into the emptied table. */
function ipBatchFloor(ns, n) {
  // (Deleting the agent's nexthops deletes the routes through them.)
  spawnSync('ip', ['-n', ns, 'nexthop', 'flush']);
  spawnSync('ip', ['-n', ns, 'route', 'flush', 'proto', '201']);
  const batch = Array.from({ length: n }, (_, i) => `route replace 10.${64 + Math.floor(i / 256)}.${i % 256}.0/24 via 10.128.${1 + Math.floor(i / 250)}.${1 + (i % 250)} proto 201`).join('\n');
  const f0 = performance.now();
  execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${batch}\n` });
  return (performance.now() - f0) / 1000;
}

async function one(n, cli, work) {
  const ns = `fnb-${process.pid}-scale${n}`;
  execFileSync('ip', ['netns', 'add', ns]);
  let stub;
  let agent;
  try {
    const sh = (...a) => execFileSync('ip', ['-n', ns, ...a]);
    sh('link', 'set', 'lo', 'up');
    sh('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    sh('link', 'set', 'v0', 'up');
    sh('link', 'set', 'v1', 'up');
    sh('addr', 'add', '10.128.0.1/16', 'dev', 'v0');
    stub = await standIn(ns);
    await stub.send({ generate: { count: n, self: { name: 'self', podCIDR: '10.127.255.0/24', ip: '10.128.0.1' } } });
    // FNB_NO_GZIP=1: as an API server with APIResponseCompression off.
    if (process.env.FNB_NO_GZIP) await stub.send({ gzip: false });
    const kubeconfig = join(work, `kubeconfig-${n}`);
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 't', cluster: { server: `http://127.0.0.1:${stub.port}`, 'insecure-skip-tls-verify': true } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'c', context: { cluster: 't', user: 'u' } }], 'current-context': 'c' }));
    const probes = healthProbes(ns);
    const t0 = performance.now();
    agent = spawn('ip', ['netns', 'exec', ns, cli, 'agent', '--node-name', 'self', '--kubeconfig', kubeconfig, '--cluster-cidr', '10.64.0.0/10', '--conf-dir', join(work, `netd-${n}`), '--status-file', join(work, `st-${n}.json`), '--health-addr', `127.0.0.1:${HEALTH_PORT}`, '--log-level', process.env.FNB_AGENT_LOG ? 'debug' : 'warn'], { stdio: ['ignore', 'ignore', process.env.FNB_AGENT_LOG ? 'pipe' : 'inherit'] });
    if (process.env.FNB_AGENT_LOG) agent.stderr.on('data', (d) => writeFileSync(`${process.env.FNB_AGENT_LOG}-${n}`, d, { flag: 'a' }));
    let routed = NaN;
    for (const end = t0 + 300_000; performance.now() < end; await sleep(50)) {
      if (routeCount(ns) >= n) {
        routed = (performance.now() - t0) / 1000;
        break;
      }
    }
    const startRss = vmHwmMiB(agent.pid);
    const startHealth = probes.stop();
    // Heartbeats: 33 status updates a second (4 every 120 ms), for 15 s, after 2 s to settle.
    await sleep(2000);
    const beatProbes = healthProbes(ns);
    const c0 = cpuSeconds(agent.pid);
    const b0 = performance.now();
    for (let i = 0; i < 125; i++) {
      await stub.send({ heartbeat: { count: 4 } });
      await sleep(Math.max(0, b0 + (i + 1) * 120 - performance.now()));
    }
    const cores = (cpuSeconds(agent.pid) - c0) / ((performance.now() - b0) / 1000);
    const beatHealth = beatProbes.stop();
    const peakRss = vmHwmMiB(agent.pid);
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    agent = undefined;
    const floor = ipBatchFloor(ns, n);
    const lists = stub.reports.filter((r) => r.req === 'list');
    return { n, routed, floor, startRss, peakRss, heartbeatCores: cores, startHealth, beatHealth, listRequests: lists.length, gzip: lists.some((r) => r.gzip) };
  } finally {
    if (agent) {
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
    }
    stub?.stop();
    await sleep(200);
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

export async function benchAgentScale({ sizes = [1000, 5000, 10000], cli = join(root, 'dist/bin/flatnet-cli') } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'fnb-scale-'));
  const rows = [];
  try {
    for (const n of sizes) rows.push(await one(n, cli, work));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'never');
  console.log('');
  console.log(`${'agent at scale (real-sized)'.padEnd(28)} ${'routes s'.padStart(9)} ${'floor s'.padStart(8)} ${'peak MiB'.padStart(9)} ${'beat cores'.padStart(11)} ${'healthz p99/max ms'.padStart(19)}`);
  for (const r of rows) {
    const h = [r.startHealth, r.beatHealth].reduce((a, b) => ({ p99: Math.max(a.p99, b.p99), max: Math.max(a.max, b.max) }));
    console.log(`${`${r.n} peers`.padEnd(28)} ${f(r.routed).padStart(9)} ${f(r.floor).padStart(8)} ${f(r.peakRss, 0).padStart(9)} ${f(r.heartbeatCores, 3).padStart(11)} ${`${f(h.p99, 0)}/${f(h.max, 0)}`.padStart(19)}`);
  }
  console.log(JSON.stringify({ bench: 'flatnet-agent-scale', rows }));
  return rows;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.getuid() !== 0) throw new Error('run as root: the benchmark makes network namespaces');
  const arg = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  await benchAgentScale({ ...(arg('sizes') ? { sizes: arg('sizes').split(',').map(Number) } : {}), ...(arg('cli') ? { cli: resolve(arg('cli')) } : {}) });
}
