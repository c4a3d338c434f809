#!/usr/bin/env node
// `npm run demo:k8s`: a kind-like Kubernetes cluster (a tainted control-plane
// node and two workers, scripts/kube/cluster.mjs) with flatnet installed as a
// user installs it (image loaded into every node, `kubectl apply -f
// conf/kubernetes/flatnet.yaml`), a Deployment across the workers, pod->pod
// across nodes with the source address the receiver saw, a Service call, and
// everything removed (also on failure or Ctrl-C).
//
//   node scripts/kube/demo.mjs [--keep] [--workers N]
//   --keep     leave the cluster up and print how to reach it; Ctrl-C removes it
import { flatnetImageArchive } from '../image-archive.mjs';
import { createKubeCluster } from './cluster.mjs';

const USAGE = 'usage: npm run demo:k8s [-- --keep] [-- --workers N]   (N from 1 to 8; default 2)';
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const workersAt = args.indexOf('--workers');
const workers = workersAt >= 0 ? Number(args[workersAt + 1]) : 2;
const unknown = args.filter((a, i) => a !== '--keep' && a !== '--workers' && !(workersAt >= 0 && i === workersAt + 1));
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
if (unknown.length || !Number.isInteger(workers) || workers < 1 || workers > 8) {
  process.stderr.write(`flatnet: demo:k8s: ${unknown.length ? `unknown argument ${unknown[0]}` : `--workers wants a whole number from 1 to 8, not ${args[workersAt + 1] ?? 'nothing'}`}\n${USAGE}\n`);
  process.exit(2);
}

const say = (s) => console.log(s);
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);

let cluster;
let stopping = false;
async function teardown(code) {
  if (stopping) return;
  stopping = true;
  if (cluster) {
    say('removing the cluster (its processes, mounts and namespaces; about half a minute) ...');
    const made = [...cluster.netns];
    await cluster.down();
    say(`cleaned up: processes stopped, namespaces ${made.join(' ')} and ${cluster.dir} removed`);
  }
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void teardown(130));

async function demo() {
  const image = await flatnetImageArchive();
  say(`[${secs()} s] flatnet image: ${image.path}${image.built ? ' (built)' : ''}`);
  const c = await createKubeCluster({ workers, onCreate: (made) => (cluster = made) });
  say(`[${secs()} s] cluster up in ${c.timings.up.toFixed(1)} s: ${c.nodes.map((n) => `${n.name} ${n.ip}`).join(', ')}`);
  await c.installFlatnet(image.path);
  const nodes = await c.getJson(['get', 'nodes']);
  say(`[${secs()} s] kubectl apply -f conf/kubernetes/flatnet.yaml: every node Ready ${c.timings.ready.toFixed(1)} s later`);
  for (const n of nodes.items) say(`  ${n.metadata.name.padEnd(14)} podCIDR ${n.spec.podCIDR}`);
  const pods = await c.deployNetexec('demo', 2 * workers);
  say(`[${secs()} s] Deployment demo (agnhost netexec) Running:`);
  for (const p of pods) say(`  ${p.name.padEnd(28)} ${p.ip.padEnd(14)} on ${p.node}`);
  for (const a of pods) {
    for (const b of pods) {
      if (a.node === b.node) continue;
      const saw = await c.dialClientIp(a, b.ip);
      say(`  ${a.name} (${a.node}) -> ${b.ip} (${b.node}): the receiver saw ${saw}${saw === a.ip ? ', the sender pod itself: no NAT' : ` — NOT the sender ${a.ip}`}`);
    }
  }
  await c.kubectl(['expose', 'deployment', 'demo', '--port=80', '--target-port=8080']);
  const svc = await c.getJson(['get', 'service', 'demo']);
  const ip = svc.spec.clusterIP;
  const from = pods[0];
  // kube-proxy on every node programs the Service within a few seconds of its creation.
  await c.waitFor(`Service ${ip} from ${from.name}`, () => c.dialClientIp(from, ip, 80).then(() => true), 60_000);
  const saw = await c.dialClientIp(from, ip, 80);
  const why = saw === from.ip ? 'the calling pod itself' : `the bridge's address: the Service sent ${from.name} to itself, and kube-proxy masquerades such hairpin traffic`;
  say(`[${secs()} s] Service demo ${ip}:80 from ${from.name} (${from.ip}): a backend answered and saw ${saw}, ${why}`);
  const hostname = (await c.cp.run('curl', ['-sS', '--max-time', '10', `http://${ip}/hostname`])).stdout.trim();
  say(`  from the control-plane node: answered by ${hostname}`);
  if (keep) {
    say(`\nThe cluster stays up. kubectl runs in the control-plane node's network namespace:
  ip netns exec ${c.cp.netns} ${c.k('kubectl')} --kubeconfig ${c.kubeconfig} get pods -A -o wide
Node logs: ${c.dir}/nodes/*/log/. Press Ctrl-C to remove everything.`);
    await new Promise(() => undefined);
  }
}

try {
  await demo();
  await teardown(0);
} catch (e) {
  process.stderr.write(`flatnet: demo:k8s failed: ${e.stack ?? e}\n`);
  await teardown(1);
}
