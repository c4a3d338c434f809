// Pod start-up under a real kubelet, flatnet beside the Go plugins on the
// same cluster and node: a Deployment of N pods pinned to one worker, from
// `kubectl apply` to every pod Ready, and back to none after the delete.
// The Go baseline is the agent's own conflist with the two types switched to
// `bridge` + `host-local`, placed before it in the node's /etc/cni/net.d
// (containerd takes the first), the agent still routing; flatnet's CNI log
// line count witnesses which plugin ran. Besides the wall times, kubelet's
// own metrics: pod start duration and RunPodSandbox (the runtime's share,
// CNI ADD included).
import { createKubeCluster, sleep } from './cluster.mjs';

const GO_CONF = '/etc/cni/net.d/05-go-baseline.conflist';
const FLATNET_CONF = '/etc/cni/net.d/10-flatnet.conflist';
const CNI_LOG = '/var/log/flatnet/cni.log';

/** The agent's conflist with the plugin pair switched to Go's. */
export function goBaseline(conflistText) {
  const conf = JSON.parse(conflistText);
  for (const p of conf.plugins) {
    if (p.type === 'flatnet') p.type = 'bridge';
    if (p.ipam?.type === 'flatnet-ipam') p.ipam.type = 'host-local';
  }
  return JSON.stringify(conf, null, 2);
}

/** Sum and count of a Prometheus histogram (first series matching `labels`) in exposition text. */
export function histogram(text, name, labels = '') {
  const val = (suffix) => {
    const re = new RegExp(`^${name}_${suffix}(\\{[^}]*\\})? (\\S+)$`, 'm');
    for (const line of text.split('\n')) {
      const m = re.exec(line);
      if (m && (!labels || (m[1] ?? '').includes(labels))) return Number(m[2]);
    }
    return 0;
  };
  return { sum: val('sum'), count: val('count') };
}

async function kubeletMetrics(c, node) {
  const text = (await c.kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy/metrics`])).stdout;
  return {
    start: histogram(text, 'kubelet_pod_start_duration_seconds'),
    sandbox: histogram(text, 'kubelet_runtime_operations_duration_seconds', 'operation_type="run_podsandbox"'),
  };
}

const meanMs = (a, b) => (b.count > a.count ? ((b.sum - a.sum) / (b.count - a.count)) * 1000 : NaN);
const lines = async (node, file) => Number((await node.run('sh', ['-c', `cat ${file} 2>/dev/null | wc -l`])).stdout.trim());

async function round(c, node, impl, n) {
  if (impl === 'go') await node.run('sh', ['-c', `cat > ${GO_CONF}`], { input: goBaseline((await node.run('cat', [FLATNET_CONF])).stdout) });
  else await node.run('rm', ['-f', GO_CONF]);
  // containerd reloads on the directory's events.
  await sleep(2000);
  const logBefore = await lines(node, CNI_LOG);
  const m0 = await kubeletMetrics(c, node.name);
  const name = `bench-${impl}`;
  const spec = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: n,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { nodeName: node.name, terminationGracePeriodSeconds: 0, containers: [{ name: 'pause', image: 'k8s.gcr.io/pause:3.2', imagePullPolicy: 'Never' }] },
      },
    },
  };
  const t0 = Date.now();
  await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(spec) });
  await c.waitFor(`${n} ${impl} pods Ready`, async () => {
    const pods = (await c.getJson(['get', 'pods', '-l', `app=${name}`])).items;
    return pods.length === n && pods.every((p) => p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
  }, 300_000, 250);
  const ready = (Date.now() - t0) / 1000;
  const m1 = await kubeletMetrics(c, node.name);
  const logAfterAdd = await lines(node, CNI_LOG);
  const t1 = Date.now();
  await c.kubectl(['delete', 'deployment', name, '--wait=false']);
  await c.waitFor(`${impl} pods gone`, async () => (await c.getJson(['get', 'pods', '-l', `app=${name}`])).items.length === 0, 300_000, 250);
  const gone = (Date.now() - t1) / 1000;
  return { ready, gone, podStartMs: meanMs(m0.start, m1.start), sandboxMs: meanMs(m0.sandbox, m1.sandbox), flatnetLogLines: logAfterAdd - logBefore };
}

/** Runs the comparison on a fresh cluster; prints the rows and returns them. */
export async function benchKubernetes({ pods = 30, rounds = 2, imageTar }) {
  const c = await createKubeCluster({ workers: 1 });
  try {
    await c.installFlatnet(imageTar);
    const node = c.workers[0];
    const runs = { go: [], flatnet: [] };
    for (let r = 0; r < rounds; r++) for (const impl of ['go', 'flatnet']) runs[impl].push(await round(c, node, impl, pods));
    const witness = runs.go.every((x) => x.flatnetLogLines === 0) && runs.flatnet.every((x) => x.flatnetLogLines >= pods);
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const pick = (impl, k) => med(runs[impl].map((x) => x[k]));
    console.log(`\n-- Kubernetes 1.20 (kubelet + containerd 1.6), ${pods} pods on one node, median of ${rounds} rounds; ${witness ? 'each round ran the plugin it names (flatnet\'s CNI log)' : 'WARNING: the CNI log shows a round ran the other plugin'}`);
    console.log(`${'metric'.padEnd(34)} ${'go'.padStart(9)} ${'flatnet'.padStart(9)} ${'ratio'.padStart(8)}`);
    const row = (label, k, unit) => console.log(`${label.padEnd(34)} ${pick('go', k).toFixed(1).padStart(9)} ${pick('flatnet', k).toFixed(1).padStart(9)} ${`${(pick('flatnet', k) / pick('go', k)).toFixed(2)}x`.padStart(8)}  ${unit}`);
    row('apply -> all Ready', 'ready', 's');
    row('delete -> all gone', 'gone', 's');
    row('kubelet pod start (mean)', 'podStartMs', 'ms');
    row('RunPodSandbox incl. CNI ADD (mean)', 'sandboxMs', 'ms');
    const out = { bench: 'flatnet-vs-go-kubernetes', pods, rounds, runs, witness };
    console.log(JSON.stringify(out));
    return out;
  } finally {
    await c.down();
  }
}
