// flatnet as the pod network of a real Kubernetes 1.20 (scripts/kube/): etcd,
// kube-apiserver, controller-manager assigning podCIDRs, scheduler, and on
// each of three namespace nodes (a tainted control plane, two workers)
// containerd, kubelet and kube-proxy. flatnet goes in as a user installs it:
// its image imported into every node, conf/kubernetes/flatnet.yaml applied
// unchanged. Then what users rely on is checked through Kubernetes itself —
// pods across nodes, Services, Kubernetes' own e2e network tests — and the
// faults a real cluster has: a DaemonSet rollout, kubelet and containerd
// restarts, a node joining before its flatnet pod can run, a Node deleted.
// Timings are printed, never asserted.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { flatnetImageArchive } from '../helpers/image.ts';
// @ts-expect-error: plain JS module shared with the demo
import { createKubeCluster, sleep } from '../../scripts/kube/cluster.mjs';
// @ts-expect-error: plain JS module shared with the demo
import { kubeBuilt } from '../../scripts/kube/build.mjs';
// @ts-expect-error: plain JS module shared with npm run e2e:k8s
import { E2E_SUBSET, formatTable, loadE2eImages, runE2e } from '../../scripts/kube/e2e.mjs';

interface Pod {
  name: string;
  node: string;
  ip: string;
}

const ready = isRoot() && existsSync('/usr/bin/containerd') && existsSync('/usr/bin/etcd');
if (ready && !kubeBuilt()) throw new Error('Kubernetes is not built: run `node scripts/setup.mjs test` (it builds it once, ~15 min)');

describe.skipIf(!ready)('flatnet as the pod network of a real Kubernetes cluster', () => {
   
  let c: any;
  let pods: Pod[] = [];
  const log = (s: string) => process.stderr.write(`kubernetes.test: ${s}\n`);

  beforeAll(async () => {
    const image = await flatnetImageArchive();
    c = await createKubeCluster({ workers: 2 });
    await c.installFlatnet(image.path);
    pods = await c.deployNetexec('net', 4);
    log(`cluster up ${c.timings.up.toFixed(1)} s; apply -> all nodes Ready ${c.timings.ready.toFixed(1)} s`);
  }, 900_000);

  afterAll(async () => {
    await c?.down();
  }, 180_000);

  const routeVia = async (nodeName: string, cidr: string) => (await c.node(nodeName).run('ip', ['-4', 'route', 'show', cidr])).stdout.trim();
  const nodesJson = async () => (await c.getJson(['get', 'nodes'])).items;
  const podCidrOf = async (name: string) => (await nodesJson()).find((n: { metadata: { name: string } }) => n.metadata.name === name)?.spec.podCIDR as string;

  it('kubectl apply of the manifest unchanged: the DaemonSet ready, every node Ready, the binaries and the conflist on each node', async () => {
    const ds = await c.getJson(['-n', 'kube-system', 'get', 'daemonset', 'flatnet']);
    expect(ds.status.numberReady).toBe(c.nodes.length);
    for (const n of c.nodes) {
      const files = (await n.run('ls', ['/opt/cni/bin', '/etc/cni/net.d'])).stdout;
      expect(files).toMatch(/\bflatnet\b/);
      expect(files).toMatch(/\bflatnet-ipam\b/);
      expect(files).toMatch(/10-flatnet\.conflist/);
    }
    // Each node routes every other node's podCIDR via that node's IP.
    const items = await nodesJson();
    for (const n of c.nodes) {
      for (const peer of items.filter((x: { metadata: { name: string } }) => x.metadata.name !== n.name)) {
        const ip = peer.status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address;
        expect(await routeVia(n.name, peer.spec.podCIDR)).toContain(`via ${ip}`);
      }
    }
  });

  it('pods on different nodes reach each other over TCP and UDP with the sender pod\'s own address (no NAT)', async () => {
    expect(new Set(pods.map((p) => p.node)).size).toBe(2);
    let pairs = 0;
    for (const a of pods) {
      for (const b of pods) {
        if (a.node === b.node) continue;
        expect(await c.dialClientIp(a, b.ip)).toBe(a.ip);
        expect(await c.dialClientIp(a, b.ip, 8081, 'udp')).toBe(a.ip);
        pairs++;
      }
    }
    log(`${pairs} cross-node pod pairs, TCP and UDP, source address kept`);
  });

  it('a ClusterIP Service (kube-proxy) answers from pods and from every node', async () => {
    await c.kubectl(['expose', 'deployment', 'net', '--port=80', '--target-port=8080', '--name=net']);
    const ip = (await c.getJson(['get', 'service', 'net'])).spec.clusterIP;
    await c.waitFor('the Service', async () => (await c.cp.run('curl', ['-sS', '--max-time', '3', `http://${ip}/hostname`], { nothrow: true })).exitCode === 0, 30_000);
    // The backend may be the caller itself (hairpin, masqueraded by kube-proxy): only an answer is asked for.
    for (const from of pods) await c.dialClientIp(from, ip, 80);
    for (const n of c.nodes) {
      const who = (await n.run('curl', ['-sS', '--max-time', '5', `http://${ip}/hostname`])).stdout.trim();
      expect(pods.map((p) => p.name)).toContain(who);
    }
  });

  it('pods reach a host on the node network that is not a node, and it sees the node\'s address', async () => {
    // The underlay's router (the switch namespace) plays an NFS or etcd host:
    // it has no route to any pod subnet.
    const server = c.startOnUnderlay('outside-host', ['netexec', '--http-port=8080', '--udp-port=0']);
    try {
      await sleep(500);
      for (const p of pods) {
        const saw = await c.dialClientIp(p, c.underlayGateway);
        expect(saw).toBe(c.node(p.node).ip);
      }
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('containerd never sees a temporary file in the CNI config directory', () => {
    for (const n of c.nodes) expect(n.logOf('containerd')).not.toMatch(/failed to reload cni configuration/);
  });

  it("Kubernetes' own network tests pass (e2e.test: Granular Checks: Pods, Services)", async () => {
    await loadE2eImages(c);
    const cases = await runE2e(c, { names: E2E_SUBSET, reportDir: join(c.dir, 'e2e') });
    log(`\n${formatTable(cases)}`);
    expect(cases.filter((x: { status: string }) => x.status === 'passed').map((x: { name: string }) => x.name).sort()).toEqual([...E2E_SUBSET].sort());
  }, 1_200_000);

  it('kubectl rollout restart ds/flatnet keeps every pod\'s connectivity', async () => {
    const [a, b] = [pods[0]!, pods.find((p) => p.node !== pods[0]!.node)!];
    const before = (await c.getJson(['-n', 'kube-system', 'get', 'pods', '-l', 'app=flatnet'])).items.map((p: { metadata: { uid: string } }) => p.metadata.uid);
    await c.kubectl(['-n', 'kube-system', 'rollout', 'restart', 'daemonset/flatnet']);
    let failures = 0;
    let probes = 0;
    let done = false;
    const rollout = c.kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/flatnet', '--timeout=300s']).finally(() => (done = true));
    const t0 = Date.now();
    while (!done) {
      probes++;
      try {
        if ((await c.dialClientIp(a, b.ip)) !== a.ip) failures++;
      } catch {
        failures++;
      }
      await sleep(200);
    }
    await rollout;
    const after = (await c.getJson(['-n', 'kube-system', 'get', 'pods', '-l', 'app=flatnet'])).items.map((p: { metadata: { uid: string } }) => p.metadata.uid);
    expect(after.filter((u: string) => before.includes(u))).toEqual([]);
    log(`rollout restart: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${probes} cross-node probes, ${failures} failed`);
    expect(failures).toBe(0);
  }, 400_000);

  it('restarting kubelet and containerd on a node keeps its pods networked, and new pods start after', async () => {
    const node = c.node(pods[0]!.node);
    const here = pods.filter((p) => p.node === node.name);
    const there = pods.find((p) => p.node !== node.name)!;
    await c.restartRuntime(node);
    for (const p of here) expect(await c.dialClientIp(there, p.ip)).toBe(there.ip);
    await c.kubectl(['scale', 'deployment/net', '--replicas=6']);
    await c.kubectl(['rollout', 'status', 'deployment/net', '--timeout=180s']);
    const now: Pod[] = await c.podsOf('net');
    const fresh = now.filter((p) => !pods.some((q) => q.name === p.name));
    expect(fresh.length).toBe(2);
    for (const p of fresh) expect(await c.dialClientIp(there, p.ip)).toBe(there.ip);
    for (const n of c.nodes) expect(n.logOf('containerd')).not.toMatch(/failed to (setup|destroy) network/);
  }, 300_000);

  it('a node whose flatnet pod cannot run yet stays NotReady and gets no pods; it turns Ready once it can', async () => {
    // The new worker has every image but flatnet's: its flatnet pod cannot start.
    const late = await c.addWorker('late-worker');
    await c.waitFor('late-worker registered', async () => Boolean(await podCidrOf('late-worker')), 60_000);
    await sleep(5000);
    const node = (await nodesJson()).find((n: { metadata: { name: string } }) => n.metadata.name === 'late-worker');
    expect(node.status.conditions.find((x: { type: string }) => x.type === 'Ready').status).not.toBe('True');
    const onLate = (await c.getJson(['get', 'pods', '-A', '--field-selector', 'spec.nodeName=late-worker'])).items.filter((p: { spec: { hostNetwork?: boolean } }) => !p.spec.hostNetwork);
    expect(onLate).toEqual([]);
    const image = await flatnetImageArchive();
    await late.importImage(image.path);
    const s = await c.waitFor('late-worker Ready', async () => (await nodesJson()).find((n: { metadata: { name: string } }) => n.metadata.name === 'late-worker').status.conditions.find((x: { type: string }) => x.type === 'Ready').status === 'True', 180_000, 1000);
    log(`late worker Ready ${s.toFixed(1)} s after its flatnet image arrived`);
    const cidr = await podCidrOf('late-worker');
    await c.waitFor('a route to the late worker on the others', async () => (await routeVia(c.cp.name, cidr)).includes(`via ${late.ip}`), 30_000);
  }, 400_000);

  it('deleting a Node object withdraws its route on the other nodes', async () => {
    const cidr = await podCidrOf('late-worker');
    await late(c).stopDaemon('kubelet');
    await c.kubectl(['delete', 'node', 'late-worker']);
    const s = await c.waitFor('the route withdrawn', async () => (await routeVia(c.cp.name, cidr)) === '' && (await routeVia(pods[0]!.node, cidr)) === '', 30_000, 200);
    log(`route to a deleted Node withdrawn ${s.toFixed(1)} s after the delete`);
  }, 120_000);
});

 
const late = (c: any) => c.node('late-worker');
