#!/usr/bin/env node
// Side-by-side benchmark of flatnet+flatnet-ipam against Go bridge+host-local
// (Debian's containernetworking-plugins), same config but for "type", same
// namespaces, implementations alternating. Prints a table and one JSON line.
// Run as root: npm run bench [-- --pods 50 --burst 110 --only plugins,agent,agent-scale,dataplane,kubernetes]
// The agent-scale section (scripts/bench-agent-scale.mjs) runs the agent
// against the API stand-in with 1k/5k/10k real-sized Nodes: start -> routes
// beside the `ip -batch` floor, peak RSS, heartbeat CPU, /healthz latency.
// The kubernetes section (scripts/kube/bench.mjs) runs a real kubelet with
// flatnet, then with the Go pair, on one cluster (built Kubernetes needed:
// node scripts/setup.mjs kube).
// The plugin section covers the agent's conflist first, then ipMasq true (in
// iptables, then in nftables), each beside the floor: what `ip` alone takes for
// the same kernel work. Go is compared in nftables only when its bridge has
// that backend (v1.6+; Debian's 1.1.1 has not: flatnet is then shown alone).
// Everything lives in namespaces named fnb-*, removed at the end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchAgentScale } from './bench-agent-scale.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PODS = arg('pods', 50);
const onlyAt = process.argv.indexOf('--only');
const SECTIONS = new Set(onlyAt > 0 ? process.argv[onlyAt + 1].split(',') : ['plugins', 'agent', 'agent-scale', 'dataplane', 'kubernetes']);
const BURST = arg('burst', 110);
const IMPLS = {
  go: { bin: '/usr/lib/cni/bridge', type: 'bridge', ipam: 'host-local', path: '/usr/lib/cni' },
  flatnet: { bin: join(root, 'dist/bin/flatnet'), type: 'flatnet', ipam: 'flatnet-ipam', path: `${join(root, 'dist/bin')}:/usr/lib/cni` },
};


// A run killed mid-way (kill, Ctrl-C during a spawnSync) skips its finally:
// its namespaces are removed by the next run, once their owner is gone.
function sweepStale() {
  for (const line of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')) {
    const m = /^(fnb-(\d+)-\S+)/.exec(line);
    if (m && !existsSync(`/proc/${m[2]}`)) spawnSync('ip', ['netns', 'del', m[1]]);
  }
}

async function main() {
  if (process.getuid() !== 0) throw new Error('run as root: the benchmark makes network namespaces');
  sweepStale();
  if (!existsSync(IMPLS.flatnet.bin)) execFileSync('node', [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
  const node = `fnb-${process.pid}-node`;
  const pods = Array.from({ length: BURST }, (_, i) => `fnb-${process.pid}-p${i}`);
  const work = mkdtempSync(join(tmpdir(), 'fnb-'));
  try {
    if (!SECTIONS.has('plugins')) {
      if (SECTIONS.has('agent')) benchAgent(work);
      if (SECTIONS.has('agent-scale')) await benchAgentScale();
      if (SECTIONS.has('dataplane')) await benchDataPlane();
      return;
    }
    for (const ns of [node, ...pods]) execFileSync('ip', ['netns', 'add', ns]);
    // The floor's own bridge (the plugins make theirs); it needs no address.
    execFileSync('ip', ['-n', node, 'link', 'add', 'fnbfl', 'type', 'bridge']);
    execFileSync('ip', ['-n', node, 'link', 'set', 'fnbfl', 'up']);
    const r = spawnSync('ip', ['netns', 'exec', node, process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...process.env, FLATNET_BENCH_WORKER: '1', FNB_PODS: pods.join(','), FNB_WORK: work, FNB_N: String(PODS) },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    process.stdout.write(r.stdout);
    process.exitCode = r.status ?? 1;
    if (r.status === 0 && SECTIONS.has('agent')) benchAgent(work);
    if (r.status === 0 && SECTIONS.has('agent-scale')) await benchAgentScale();
    if (r.status === 0 && SECTIONS.has('dataplane')) await benchDataPlane();
  } finally {
    for (const ns of [node, ...pods]) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
  }
}

// Agent: one sync of N peers (first run into an empty table, then a rerun
// that must write nothing), in a namespace with a connected /16 for next hops.
function benchAgent(work) {
  const out = {};
  for (const n of [1000, 5000]) {
    const ns = `fnb-${process.pid}-agent${n}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const sh = (...a) => execFileSync('ip', ['-n', ns, ...a]);
      sh('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
      sh('link', 'set', 'v0', 'up');
      sh('link', 'set', 'v1', 'up');
      sh('addr', 'add', '10.128.0.1/16', 'dev', 'v0');
      const items = [{ metadata: { name: 'self' }, spec: { podCIDR: '10.127.255.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.128.0.1' }] } }];
      for (let i = 0; i < n; i++) {
        items.push({ metadata: { name: `n${i}` }, spec: { podCIDR: `10.${64 + Math.floor(i / 256)}.${i % 256}.0/24` }, status: { addresses: [{ type: 'InternalIP', address: `10.128.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` }] } });
      }
      const file = join(work, `nodes-${n}.json`);
      writeFileSync(file, JSON.stringify({ kind: 'NodeList', items }));
      const run = () => {
        const t0 = process.hrtime.bigint();
        const r = execFileSync('ip', ['netns', 'exec', ns, IMPLS.flatnet.bin, 'agent', '--once', '--node-name', 'self', '--nodes-file', file, '--cluster-cidr', '10.64.0.0/10', '--conf-dir', join(work, `netd-${n}`), '--status-file', join(work, `st-${n}.json`)], { encoding: 'utf8' });
        return { ...JSON.parse(r), wallMs: Number(process.hrtime.bigint() - t0) / 1e6 };
      };
      out[n] = { first: run(), rerun: run() };
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }
  console.log('');
  console.log(`${'agent resync'.padEnd(28)} ${'sync ms'.padStart(9)} ${'process ms'.padStart(11)} ${'route writes'.padStart(13)}`);
  for (const [n, r] of Object.entries(out)) {
    for (const k of ['first', 'rerun']) console.log(`${`${n} peers, ${k}`.padEnd(28)} ${r[k].ms.toFixed(1).padStart(9)} ${r[k].wallMs.toFixed(1).padStart(11)} ${String(r[k].routeWrites).padStart(13)}`);
  }
  console.log(JSON.stringify({ bench: 'flatnet-agent', ...out }));
}

// Data plane: TCP throughput (iperf3) and ping RTT between pods on two
// namespace-nodes: flatnet (agent routes, node egress masquerade) vs Go bridge
// (ipMasq, so both nodes run conntrack/NAT as real clusters do) + the same routes by hand.
async function benchDataPlane() {
  const { createCluster } = await import('./cluster.mjs');
  const { libcniDriver } = await import('./libcni.mjs');
  const driver = libcniDriver();
  if (!driver || !existsSync('/usr/bin/iperf3')) {
    console.log('\ndata plane: skipped (needs libcni-driver and iperf3: apt-get install iperf3)');
    return;
  }
  const results = {};
  for (const flavour of ['go', 'flatnet']) {
    const c = await createCluster({ nodes: 2, libcniDriver: driver, tag: `b${flavour.slice(0, 2)}` });
    try {
      if (flavour === 'flatnet') {
        c.writeNodes();
        for (const n of c.nodes) await c.startAgent(n);
      } else {
        for (const n of c.nodes) {
          const list = { cniVersion: '1.0.0', name: 'flatnet', plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: n.podCIDR }]], dataDir: n.dataDir } }] };
          execFileSync('mkdir', ['-p', n.confDir]);
          writeFileSync(join(n.confDir, '10-flatnet.conflist'), JSON.stringify(list));
          for (const peer of c.nodes) if (peer !== n) execFileSync('ip', ['-n', n.ns, 'route', 'add', peer.podCIDR, 'via', peer.ip]);
        }
      }
      const a = await c.addPod(c.nodes[0], 'dpa');
      const b = await c.addPod(c.nodes[1], 'dpb');
      const srv = spawn('ip', ['netns', 'exec', b.ns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
      const ip = spawnSync('ip', ['netns', 'exec', a.ns, 'iperf3', '-c', b.ip, '-t', '3', '-J'], { encoding: 'utf8' });
      srv.kill();
      const gbps = JSON.parse(ip.stdout).end.sum_received.bits_per_second / 1e9;
      // The median of 1,000 echoes: ping prints whole microseconds, and the
      // mean of a few hundred moved by 20% between identical runs.
      const ping = spawnSync('ip', ['netns', 'exec', a.ns, 'ping', '-c', '1000', '-i', '0.002', b.ip], { encoding: 'utf8' });
      const times = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
      results[flavour] = { gbps, rttMs: times[Math.floor(times.length / 2)] };
    } finally {
      await c.destroy();
    }
  }
  console.log('');
  const row = (label, g, f, unit) => console.log(`${label.padEnd(28)} ${g.toFixed(3).padStart(9)} ${f.toFixed(3).padStart(9)} ${(f / g).toFixed(2).padStart(7)}x  ${unit}`);
  row('pod->pod TCP throughput', results.go.gbps, results.flatnet.gbps, 'Gbit/s (higher is better)');
  row('pod->pod ping RTT p50', results.go.rttMs, results.flatnet.rttMs, 'ms (lower is better)');
  console.log(JSON.stringify({ bench: 'flatnet-dataplane', ...results }));
}

// The conflists compared: the one the agent writes on every node (what every
// pod goes through: no per-pod masquerade, the agent masquerades egress per
// node) and the per-pod masquerade case (`ipMasq: true`).
const CONFLISTS = {
  agent: { label: 'agent conflist (ipMasq false)', ipMasq: false },
  masq: { label: 'ipMasq true', ipMasq: true },
  nft: { label: 'ipMasq true, ipMasqBackend nftables', ipMasq: true, backend: 'nftables' },
};

function conf(impl, work, kind) {
  const i = IMPLS[impl];
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: `bench-${kind}`,
    type: i.type,
    bridge: 'fnb0',
    isGateway: true,
    isDefaultGateway: true,
    hairpinMode: true,
    ipMasq: CONFLISTS[kind].ipMasq,
    ...(CONFLISTS[kind].backend ? { ipMasqBackend: CONFLISTS[kind].backend } : {}),
    ipam: { type: i.ipam, ranges: [[{ subnet: '10.251.0.0/24' }]], dataDir: join(work, `${impl}-${kind}`) },
  });
}

function env(impl, command, pod, id) {
  return { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: IMPLS[impl].path };
}

function timedSync(impl, command, pod, id, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(IMPLS[impl].bin, [], { env: env(impl, command, pod, id), input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${impl} ${command} failed: ${r.stdout} ${r.stderr}`);
  return { ms, out: r.stdout };
}

// Peak RSS of a child, read from /proc while it runs (VmHWM), the max over samples.
function timedAsync(impl, command, pod, id, input) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(IMPLS[impl].bin, [], { env: env(impl, command, pod, id) });
    let out = '';
    let hwm = 0;
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {
        // the child has exited between samples
      }
    };
    const timer = setInterval(sample, 2);
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end(input);
    child.on('close', (code) => {
      clearInterval(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${impl} ${command} failed: ${out}`));
      else resolve({ ms, out, hwm });
    });
    setImmediate(sample);
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** The floor of ADD and DEL as `ip` alone does them: two batches for a veth, one delete. */
function floors(pods, n) {
  const host = 'link add name fnbfl0 type veth peer name eth0 netns /var/run/netns/POD\nlink set dev fnbfl0 master fnbfl\nlink set dev fnbfl0 up\n';
  const pod = 'addr add 10.252.0.5/24 dev eth0\nlink set dev eth0 up\nroute add default via 10.252.0.1 dev eth0\n';
  const add = [];
  const del = [];
  for (let i = 0; i < n; i++) {
    const p = pods[i % pods.length];
    const t0 = process.hrtime.bigint();
    spawnSync('ip', ['-batch', '-'], { input: host.replace('POD', p) });
    spawnSync('ip', ['-n', p, '-batch', '-'], { input: pod });
    add.push(ms(t0));
    const t1 = process.hrtime.bigint();
    spawnSync('ip', ['link', 'del', 'fnbfl0']);
    del.push(ms(t1));
  }
  return { add, del };
}

/** A process fed `input`, resolved when it exits (the burst floor's unit). */
function exited(argv, input = '') {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('close', resolve);
    child.stdin.end(input);
  });
}

/** The floor of a burst: every pod's two batches at once (each pod's in order), then every delete at once. */
async function burstFloors(pods) {
  const t0 = process.hrtime.bigint();
  await Promise.all(
    pods.map(async (p, i) => {
      await exited(['ip', '-batch', '-'], `link add name fnbf${i} type veth peer name eth0 netns /var/run/netns/${p}\nlink set dev fnbf${i} master fnbfl\nlink set dev fnbf${i} up\n`);
      await exited(['ip', '-n', p, '-batch', '-'], 'addr add 10.252.0.5/24 dev eth0\nlink set dev eth0 up\nroute add default via 10.252.0.1 dev eth0\n');
    }),
  );
  const addWall = ms(t0);
  const t1 = process.hrtime.bigint();
  await Promise.all(pods.map((_, i) => exited(['ip', 'link', 'del', `fnbf${i}`])));
  return { addWall, delWall: ms(t1) };
}

/** Whether the Go bridge masquerades in nftables when asked (older ones ignore ipMasqBackend and use iptables). */
function goHasNftables(pods, work) {
  const c = conf('go', work, 'nft');
  timedSync('go', 'ADD', pods[0], 'nft-probe', c);
  const has = spawnSync('nft', ['list', 'table', 'inet', 'cni_plugins_masquerade']).status === 0;
  timedSync('go', 'DEL', pods[0], 'nft-probe', c);
  return has;
}

async function sequential(kind, pods, n, work, impls = ['go', 'flatnet']) {
  const res = { go: { add: [], del: [] }, flatnet: { add: [], del: [] } };
  const confs = { go: conf('go', work, kind), flatnet: conf('flatnet', work, kind) };
  // Warm-up: first ADD creates the bridge and page-caches the binaries.
  for (const impl of impls) {
    timedSync(impl, 'ADD', pods[0], 'warm', confs[impl]);
    timedSync(impl, 'DEL', pods[0], 'warm', confs[impl]);
  }
  for (let i = 0; i < n; i++) {
    const pod = pods[i % pods.length];
    for (const impl of i % 2 ? [...impls].reverse() : impls) {
      res[impl].add.push(timedSync(impl, 'ADD', pod, `seq${i}`, confs[impl]).ms);
      res[impl].del.push(timedSync(impl, 'DEL', pod, `seq${i}`, confs[impl]).ms);
    }
  }
  const burst = { go: {} };
  for (const impl of impls) {
    const t0 = process.hrtime.bigint();
    const adds = await Promise.all(pods.map((p, i) => timedAsync(impl, 'ADD', p, `burst${i}`, confs[impl])));
    const addWall = ms(t0);
    const addrs = new Set(adds.map((a) => JSON.parse(a.out).ips[0].address));
    const t1 = process.hrtime.bigint();
    const dels = await Promise.all(pods.map((p, i) => timedAsync(impl, 'DEL', p, `burst${i}`, confs[impl])));
    burst[impl] = { addWall, delWall: ms(t1), distinct: addrs.size === pods.length, peakRssKb: Math.max(...adds.map((a) => a.hwm), ...dels.map((d) => d.hwm)) };
  }
  return { res, burst };
}

const fmt = (x, w = 9) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1)).padStart(w);

async function worker() {
  const pods = process.env.FNB_PODS.split(',');
  const work = process.env.FNB_WORK;
  const n = Number(process.env.FNB_N);
  const floor = { ...floors(pods, n), burst: await burstFloors(pods) };
  const summary = { floor: { add_p50: pct(floor.add, 50), add_p95: pct(floor.add, 95), del_p50: pct(floor.del, 50), del_p95: pct(floor.del, 95), burst_addWall: floor.burst.addWall, burst_delWall: floor.burst.delWall } };
  console.log(`${'metric'.padEnd(34)} ${'go'.padStart(9)} ${'flatnet'.padStart(9)} ${'ratio'.padStart(8)} ${'floor'.padStart(9)}`);
  const row = (label, g, f, fl, unit = 'ms') => console.log(`${label.padEnd(34)} ${fmt(g)} ${fmt(f)} ${(Number.isFinite(g) ? `${(f / g).toFixed(2)}x` : '-').padStart(8)} ${fmt(fl)}  ${unit}`);
  const goNft = goHasNftables(pods, work);
  for (const kind of Object.keys(CONFLISTS)) {
    const withGo = kind !== 'nft' || goNft;
    const { res, burst } = await sequential(kind, pods, n, work, withGo ? ['go', 'flatnet'] : ['flatnet']);
    console.log(`-- ${CONFLISTS[kind].label}${withGo ? '' : ' (the Go bridge here has no nftables backend: flatnet alone)'}`);
    const s = {};
    for (const [k, p] of [['add', 50], ['add', 95], ['del', 50], ['del', 95]]) {
      const g = pct(res.go[k], p);
      const f = pct(res.flatnet[k], p);
      row(`${k.toUpperCase()} p${p} (${n} pods)`, g, f, summary.floor[`${k}_p${p}`]);
      s[`${k}_p${p}`] = { go: g, flatnet: f, ratio: f / g };
    }
    for (const k of ['addWall', 'delWall']) {
      row(`${pods.length} concurrent ${k === 'addWall' ? 'ADDs' : 'DELs'}, wall`, burst.go[k], burst.flatnet[k], summary.floor[`burst_${k}`]);
      s[`burst_${k}`] = { go: burst.go[k], flatnet: burst.flatnet[k], ratio: burst.flatnet[k] / burst.go[k] };
    }
    row('peak RSS per plugin process', burst.go.peakRssKb / 1024, burst.flatnet.peakRssKb / 1024, undefined, 'MiB');
    s.peak_rss_mib = { go: burst.go.peakRssKb / 1024, flatnet: burst.flatnet.peakRssKb / 1024, ratio: burst.flatnet.peakRssKb / burst.go.peakRssKb };
    console.log(`${''.padEnd(34)} distinct addresses in the burst: go=${burst.go.distinct} flatnet=${burst.flatnet.distinct}`);
    s.distinct = { go: burst.go.distinct, flatnet: burst.flatnet.distinct };
    if (!withGo) s.go = 'no nftables backend in this Go bridge';
    summary[kind] = s;
  }
  console.log('floor: two `ip -batch` processes for a veth with its peer in the pod, on the bridge, addressed and routed; DEL: `ip link del`; bursts: all pods at once');
  console.log(JSON.stringify({ bench: 'flatnet-vs-go', ...summary }));
}

/** Pod start-up under kubelet, flatnet beside Go, when Kubernetes is built. */
async function benchKube() {
  const { kubeBuilt } = await import('./kube/build.mjs');
  if (!kubeBuilt()) {
    console.log('\nkubernetes: skipped (Kubernetes not built: node scripts/setup.mjs kube)');
    return;
  }
  const { flatnetImageArchive } = await import('./image-archive.mjs');
  const { benchKubernetes } = await import('./kube/bench.mjs');
  await benchKubernetes({ pods: arg('kube-pods', 30), imageTar: (await flatnetImageArchive()).path });
}

// Dispatch last, so every const above is initialised.
if (process.env.FLATNET_BENCH_WORKER) await worker();
else {
  await main();
  if (SECTIONS.has('kubernetes') && !process.exitCode) await benchKube();
}
