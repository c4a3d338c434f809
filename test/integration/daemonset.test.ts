// The DaemonSet of conf/kubernetes/flatnet.yaml, run as close to a kind node
// as this machine allows (no Kubernetes, no Docker): its pod template, read
// from the manifest, is run with podman on two namespace nodes of
// scripts/cluster.mjs, the way kubelet + containerd would run it:
//   - the image is scripts/image.sh's archive (what `kind load image-archive`
//     takes), under the name the manifest's `image:` resolves to;
//   - every hostPath is a directory under the node's own root, the host
//     network is the node's namespace, the node name comes from the downward
//     API, the capabilities, seccomp and read-only root are the manifest's
//     (test/helpers/pod-template.ts maps them, and refuses fields it cannot);
//   - the API is a stand-in (kube-api-stub.mjs) on a third node playing the
//     control plane, over https with a throw-away CA, reached at the
//     `kubernetes` service IP through a DNAT rule in each node (kube-proxy's
//     job), with the service-account token, ca.crt and namespace mounted
//     where kubelet mounts them;
//   - probes are HTTP GETs from the node namespace, as kubelet sends them;
//   - each node runs containerd (CRI, as kubelet drives it) whose CNI dirs are
//     the node's /opt/cni/bin and /etc/cni/net.d and whose /var and /run are
//     the node's (test/helpers/cri-node.ts), so pods are started through what
//     the init container installed and the agent wrote.
// What a real kind node has and these do not: kubelet itself (the test plays
// it: it runs the containers in order and probes them), kube-proxy (one DNAT
// rule stands in for it), a node's own mount namespace for the pods' hostPaths
// (the per-node directory stands in for it), and restarts on probe failure.
// Timings and memory are printed, never asserted.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { flatnetImageArchive } from '../helpers/image.ts';
import { CriNode, buildPauseImage, type Sandbox } from '../helpers/cri-node.ts';
import { KubeApiStub, kubernetesServiceEnv, makeInClusterFiles, type InClusterFiles } from '../helpers/in-cluster.ts';
import { createNetns, deleteAllNetns, isRoot, type Netns } from '../helpers/netns.ts';
import { BIN_DIR, GO_DIR, ROOT, tempDir } from '../helpers/plugin.ts';
import { nodePath, type PodContext, type PodNode, podmanRunArgs, prepareHostPaths, probeTarget, resolveImage } from '../helpers/pod-template.ts';
// @ts-expect-error: plain JS module shared with the demo
import { CLUSTER_CIDR, createCluster } from '../../scripts/cluster.mjs';

const TOOLS = ['/usr/bin/podman', '/usr/bin/buildah', '/usr/sbin/runc', '/usr/sbin/debootstrap', '/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/busybox', '/usr/bin/openssl'];
const ready = isRoot() && TOOLS.every((t) => existsSync(t));

const docs = parseAllDocuments(readFileSync(join(ROOT, 'conf', 'kubernetes', 'flatnet.yaml'), 'utf8')).map((d) => d.toJSON());
const ds = docs.find((d) => d.kind === 'DaemonSet');
const pod: IPodSpec = ds.spec.template.spec;
const agent: IContainer = pod.containers[0]!;
const podSubnet: string = parse(readFileSync(join(ROOT, 'conf', 'kubernetes', 'kind.yaml'), 'utf8')).networking.podSubnet;
/** kind's `kubernetes` service: the first address of its service CIDR 10.96.0.0/16, port 443. */
const SERVICE_IP = '10.96.0.1';
const SERVICE_PORT = 443;
const API_PORT = 6443;
/** What kindest/node has in /opt/cni/bin before any CNI is installed. */
const KIND_NODE_PLUGINS = ['host-local', 'loopback', 'portmap', 'ptp'];
const ENGINE = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']; // runc may not raise rlimits past ours
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];
const probeScript = join(ROOT, 'test', 'helpers', 'probe.mjs');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Probe {
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
  ms: number;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const mib = (kb: number) => Math.round((kb / 1024) * 10) / 10;

describe.runIf(ready)('the DaemonSet (conf/kubernetes/flatnet.yaml) on two namespace nodes, run like kubelet + containerd', () => {
  let c: any;
  let work: ReturnType<typeof tempDir>;
  let podmanNs: Netns;
  let files: InClusterFiles;
  let stub: KubeApiStub;
  let image: string;
  let podman: (...args: string[]) => Promise<{ exitCode?: number; stdout: string; stderr: string }>;
  const nodes: PodNode[] = [];
  const cri: CriNode[] = [];
  const volumes = new Map<string, Map<string, string>>();
  const measured: Record<string, unknown> = {};

  const ctx = (node: PodNode): PodContext => ({ node, podName: `flatnet-${node.name}`, namespace: ds.metadata.namespace, serviceAccountDir: files.serviceAccountDir, serviceEnv: kubernetesServiceEnv(SERVICE_IP, SERVICE_PORT) });
  const agentName = (node: PodNode) => `fnt-${c.tag}-${node.name}-${agent.name}`;
  const conflist = (node: PodNode) => join(nodePath(node, '/etc/cni/net.d'), '10-flatnet.conflist');
  const logs = async (node: PodNode) => {
    const r = await podman('logs', '--tail', '15', agentName(node));
    return r.stdout + r.stderr;
  };
  /** kubelet's probe of the agent container, from the node's namespace. */
  const probe = async (node: PodNode, which: 'readinessProbe' | 'livenessProbe', count = 1, intervalMs = 0): Promise<Probe[]> => {
    const t = probeTarget(agent[which]!, node);
    const r = await execa('nsenter', [`--net=${node.netns}`, process.execPath, probeScript, t.url, String(t.timeoutMs), String(count), String(intervalMs)]);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Probe);
  };
  const agentPid = async (node: PodNode) => Number((await podman('inspect', '--format', '{{.State.Pid}}', agentName(node))).stdout.trim());
  const nodeNs = (node: PodNode) => node.netns.split('/').pop()!;

  beforeAll(async () => {
    const img = await flatnetImageArchive();
    image = img.path;
    measured.imageArchive = { built: img.built, seconds: Math.round(img.seconds * 10) / 10 };
    c = await createCluster({ nodes: 3 });
    work = tempDir(`fnt-ds-${c.tag}`);
    const cp = c.nodes[2];
    files = await makeInClusterFiles(join(work.path, 'in-cluster'), [SERVICE_IP, cp.ip], ds.metadata.namespace);
    // The API on the control-plane node; the nodes reach it at the service IP.
    stub = await KubeApiStub.start(cp.ns, { host: cp.ip, port: API_PORT, files });
    await stub.send({ set: c.nodeObjects() });
    for (const n of c.nodes.slice(0, 2)) {
      const node: PodNode = { name: n.name, ip: n.ip, netns: `/var/run/netns/${n.ns}`, root: join(work.path, 'nodes', n.name) };
      nodes.push(node);
      // The node as kindest/node has it: its CNI plugins, an empty CNI config dir.
      mkdirSync(nodePath(node, '/opt/cni/bin'), { recursive: true });
      mkdirSync(nodePath(node, '/etc/cni/net.d'), { recursive: true });
      for (const p of KIND_NODE_PLUGINS) copyFileSync(join(GO_DIR, p), join(nodePath(node, '/opt/cni/bin'), p));
      // kube-proxy's rule for the `kubernetes` service, for the node's own (hostNetwork) traffic.
      await execa('ip', ['netns', 'exec', n.ns, 'iptables', '-w', '-t', 'nat', '-A', 'OUTPUT', '-d', `${SERVICE_IP}/32`, '-p', 'tcp', '--dport', String(SERVICE_PORT), '-j', 'DNAT', '--to-destination', `${cp.ip}:${API_PORT}`]);
    }
    // kind's nodes forward (inherited from the Docker host; kubeadm checks it).
    // node2 starts without, to see what the agent says; it is turned on later.
    await execa('ip', ['netns', 'exec', c.nodes[0].ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);

    podmanNs = await createNetns('podman');
    const store = join(work.path, 'podman');
    const driver = (await execa('stat', ['-f', '-c', '%T', work.path])).stdout.trim() === 'overlayfs' ? 'vfs' : 'overlay';
    // podman itself runs in a test namespace (it sets up no network for
    // ns: containers, but if it did, it would be there).
    podman = (...args: string[]) =>
      execa('nsenter', [`--net=${podmanNs.path}`, 'podman', '--root', join(store, 'root'), '--runroot', join(store, 'runroot'), '--storage-driver', driver, '--events-backend', 'file', '--cgroup-manager', 'cgroupfs', '--runtime', 'runc', ...args], { reject: false }) as any;
    const t0 = performance.now();
    const load = await podman('load', '-i', image);
    expect(load.exitCode, load.stderr).toBe(0);
    measured.podmanLoadSeconds = Math.round((performance.now() - t0) / 100) / 10;

    const pause = await buildPauseImage(join(work.path, 'pause'));
    for (const node of nodes) cri.push(await CriNode.start({ netns: node.netns, root: node.root, binDir: nodePath(node, '/opt/cni/bin'), confDir: nodePath(node, '/etc/cni/net.d'), pauseImage: pause }));
  }, 900_000);

  afterAll(async () => {
    if (Object.keys(measured).length) console.log(`daemonset measurements: ${JSON.stringify(measured, null, 2)}`);
    for (const r of cri) await r.stop().catch((e) => console.error(`containerd stop: ${e.message}`));
    if (podman) {
      await podman('rm', '--force', '--time', '5', '--all');
      await podman('rmi', '--all', '--force');
    }
    // podman's overlay store stays mounted; nothing of it may outlive the temp dir.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
    for (const m of mounts.filter((p) => work && p.startsWith(work.path)).reverse()) await execa('umount', ['-l', m], { reject: false });
    await stub?.stop();
    await c?.destroy();
    await deleteAllNetns();
    work?.remove();
  }, 180_000);

  it("names the image as the archive does (what the manifest's `image:` resolves to in containerd)", async () => {
    const [manifest] = JSON.parse((await execa('tar', ['-xOf', image, 'manifest.json'])).stdout);
    for (const k of [...(pod.initContainers ?? []), ...pod.containers]) expect(resolveImage(k.image!)).toBe(manifest.RepoTags[0]);
    expect(podSubnet).toBe(CLUSTER_CIDR); // the namespace cluster's podCIDRs are kind's
  });

  it("containerd on each node reports its network not ready: no CNI config yet, as on a fresh kind node", async () => {
    for (const r of cri) expect(await r.networkReady()).toMatchObject({ status: false });
  });

  it("the init container installs flatnet's CNI binaries into each node's /opt/cni/bin, beside kind's", async () => {
    for (const node of nodes) {
      const vols = prepareHostPaths(pod, node);
      volumes.set(node.name, vols);
      // Twice: a restarted pod runs its init containers again, over the binaries already there.
      for (const round of [1, 2]) {
        for (const k of pod.initContainers ?? []) {
          const r = await podman('run', '--rm', '--name', `fnt-${c.tag}-${node.name}-${k.name}-${round}`, ...ENGINE, ...podmanRunArgs(pod, k, ctx(node), vols));
          expect(r.exitCode, r.stderr).toBe(0);
        }
      }
      const bin = nodePath(node, '/opt/cni/bin');
      expect(readdirSync(bin).sort()).toEqual(['flatnet', 'flatnet-ipam', ...KIND_NODE_PLUGINS].sort()); // no temp files left
      for (const b of ['flatnet', 'flatnet-ipam']) expect(sha(join(bin, b)), b).toBe(sha(join(BIN_DIR, b)));
    }
  }, 120_000);

  it('the agent, with exactly the capabilities of the manifest, lists nodes over https with the service-account token, writes the conflist and turns ready', async () => {
    for (const node of nodes) {
      const r = await podman('run', '--detach', '--name', agentName(node), ...ENGINE, ...podmanRunArgs(pod, agent, ctx(node), volumes.get(node.name)!));
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const [n1] = nodes as [PodNode];
    const t0 = performance.now();
    await c.waitFor('node1 ready (readiness probe)', async () => (await probe(n1, 'readinessProbe'))[0]!.ok, 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await probe(n1, 'readinessProbe'))}\n${await logs(n1)}`);
    });
    measured.readyAfterStartSeconds = Math.round((performance.now() - t0) / 100) / 10;
    expect((await probe(n1, 'livenessProbe'))[0]).toMatchObject({ ok: true, status: 200 });

    // Only the manifest's capabilities, effective in the agent process.
    const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${await agentPid(n1)}/status`, 'utf8'))![1]}`);
    const have = CAPS.filter((_, i) => (capEff >> BigInt(i)) & 1n);
    expect(have.sort()).toEqual([...(agent.securityContext!.capabilities!.add ?? [])].sort());

    // The in-cluster client: https to the service IP, verified against
    // ca.crt, with the token (the stand-in answers 401 without it).
    expect(stub.count('list', (r) => r.status === 200)).toBeGreaterThan(0);
    expect(stub.count('watch', (r) => r.status === 200)).toBeGreaterThan(0);
    expect(stub.reports.filter((r) => r.status === 401)).toEqual([]);

    const list = JSON.parse(readFileSync(conflist(n1), 'utf8'));
    expect(list.plugins[0]).toMatchObject({ type: 'flatnet', ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: c.nodes[0].podCIDR }]] } });
    const routes = (await c.routes(c.nodes[0])).map((r: any) => `${r.dst} via ${r.gateway}`).sort();
    expect(routes).toEqual(c.nodes.slice(1).map((n: any) => `${n.podCIDR} via ${n.ip}`));
    expect(await cri[0]!.networkReady()).toMatchObject({ status: true });
  }, 120_000);

  it('node2, which does not forward: the agent is alive, not ready, and says why; ready once the node forwards', async () => {
    const n2 = nodes[1]!;
    let readiness: Probe | undefined;
    await c.waitFor('a failed sync on node2', async () => /sync failed/.test((readiness = (await probe(n2, 'readinessProbe'))[0])?.body ?? ''), 30_000);
    expect(readiness).toMatchObject({ ok: false, status: 503 });
    expect(readiness!.body).toMatch(/ip_forward/);
    // It says what to do about it.
    expect(readiness!.body).toMatch(/set it on the node \(sysctl -w net\.ipv4\.ip_forward=1\)/);
    expect((await probe(n2, 'livenessProbe'))[0]).toMatchObject({ ok: true, status: 200 });
    // Nothing for containerd yet: kubelet keeps the node NotReady.
    expect(existsSync(conflist(n2))).toBe(false);
    expect(await cri[1]!.networkReady()).toMatchObject({ status: false });
    measured.notReadyBecause = readiness!.body;

    await execa('ip', ['netns', 'exec', nodeNs(n2), 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await c.waitFor('node2 ready once it forwards', async () => (await probe(n2, 'readinessProbe'))[0]!.ok, 60_000);
    expect(existsSync(conflist(n2))).toBe(true);
    expect(await cri[1]!.networkReady()).toMatchObject({ status: true });
  }, 120_000);

  it('each capability the manifest adds is needed: without it, the same container cannot sync', async () => {
    // `agent --once` from a node list file, in a fresh node namespace per run.
    const once = async (add: string[], run: string) => {
      const scratch = await createNetns(`caps${run}`);
      await execa('ip', ['-n', scratch.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
      for (const l of ['eth0', 'eth1']) await execa('ip', ['-n', scratch.name, 'link', 'set', l, 'up']);
      await execa('ip', ['-n', scratch.name, 'addr', 'add', `${c.nodes[0].ip}/24`, 'dev', 'eth0']);
      await execa('ip', ['netns', 'exec', scratch.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const node: PodNode = { name: c.nodes[0].name, ip: c.nodes[0].ip, netns: scratch.path, root: join(work.path, 'nodes', `caps${run}`) };
      // The manifest's pod with one more hostPath: the node list.
      const withList: IPodSpec = structuredClone(pod);
      withList.volumes!.push({ name: 'fnt-nodes', hostPath: { path: '/fnt-nodes', type: 'DirectoryOrCreate' } });
      const vols = prepareHostPaths(withList, node);
      writeFileSync(join(vols.get('fnt-nodes')!, 'nodes.json'), JSON.stringify({ kind: 'NodeList', items: c.nodeObjects(['node1', 'node2']) }));
      const k: IContainer = structuredClone(agent);
      k.securityContext!.capabilities!.add = add;
      k.args = [...(k.args ?? []), '--once', '--nodes-file=/fnt-nodes/nodes.json'];
      k.volumeMounts = [...(k.volumeMounts ?? []), { name: 'fnt-nodes', mountPath: '/fnt-nodes' }];
      return podman('run', '--rm', ...ENGINE, ...podmanRunArgs(withList, k, ctx(node), vols));
    };
    const add = agent.securityContext!.capabilities!.add ?? [];
    const all = await once(add, 'all');
    expect(all.exitCode, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout.trim().split('\n').pop()!)).toMatchObject({ ready: true, failed: 0 });
    for (const [i, cap] of add.entries()) {
      const without = await once(add.filter((x) => x !== cap), String(i));
      expect(without.exitCode, `without ${cap}: ${without.stdout}`).not.toBe(0);
      expect(without.stderr + without.stdout).toMatch(/not permitted|permission denied/i);
    }
  }, 120_000);

  let pods: Sandbox[] = [];

  it('containerd starts pods on both nodes through what the DaemonSet installed and wrote, and they reach each other across nodes', async () => {
    pods = [await cri[0]!.runPod('pod-a'), await cri[1]!.runPod('pod-b')];
    c.nodes.slice(0, 2).forEach((n: any, i: number) => expect(pods[i]!.ip.startsWith(n.podCIDR.replace(/0\/24$/, ''))).toBe(true));
    const [a, b] = pods as [Sandbox, Sandbox];
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const ping = await execa('nsenter', ['-t', String(from.pid), '-n', 'ping', '-c', '1', '-W', '2', to.ip], { reject: false });
      expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    }
  }, 120_000);

  it('`flatnet status` in the agent container shows the node\'s allocations (the /var/lib/cni/networks mount)', async () => {
    for (const [i, node] of nodes.entries()) {
      const text = await podman('exec', agentName(node), 'flatnet', 'status');
      expect(text.exitCode, text.stderr).toBe(0);
      expect(text.stdout).toContain(pods[i]!.id);
      const json = JSON.parse((await podman('exec', agentName(node), 'flatnet', 'status', '--json')).stdout);
      expect(json).toMatchObject({ node: node.name, ready: true });
      // Nodes from the API at the `kubernetes` service, as the in-cluster config names it (443 is https' own port, so the URL drops it).
      expect(json.source).toBe(`Kubernetes API ${new URL(`https://${SERVICE_IP}:${SERVICE_PORT}`).origin}: following changes`);
      expect(json.allocations).toEqual([{ ip: pods[i]!.ip, containerId: pods[i]!.id, ifName: 'eth0' }]);
    }
  }, 60_000);

  it('removing the pods releases their addresses (CNI DEL through the same conflist and store)', async () => {
    for (const [i, p] of pods.entries()) await cri[i]!.removePod(p.id);
    for (const node of nodes) {
      const json = JSON.parse((await podman('exec', agentName(node), 'flatnet', 'status', '--json')).stdout);
      expect(json.allocations).toEqual([]);
    }
  }, 60_000);

  it('measures the agent in its container: memory idle and with 5,000 peers, probe latencies (printed, not asserted)', async () => {
    const [n1] = nodes as [PodNode];
    const memory = async (node: PodNode) => {
      const pid = await agentPid(node);
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`${k}:\\s*(\\d+)`).exec(st)?.[1] ?? NaN);
      // kubelet's working set: the cgroup's usage less its inactive file pages.
      const cg = /:memory:(.*)/.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
      let workingSet: number | undefined;
      if (cg !== undefined && existsSync(`/sys/fs/cgroup/memory${cg}/memory.usage_in_bytes`)) {
        const usage = Number(readFileSync(`/sys/fs/cgroup/memory${cg}/memory.usage_in_bytes`, 'utf8'));
        const inactive = Number(/total_inactive_file (\d+)/.exec(readFileSync(`/sys/fs/cgroup/memory${cg}/memory.stat`, 'utf8'))?.[1] ?? 0);
        workingSet = mib((usage - inactive) / 1024);
      }
      return { rssMiB: mib(kb('VmRSS')), anonMiB: mib(kb('RssAnon')), fileMiB: mib(kb('RssFile')), peakRssMiB: mib(kb('VmHWM')), workingSetMiB: workingSet };
    };
    const latency = (ps: Probe[]) => ({ n: ps.length, failed: ps.filter((p) => !p.ok).length, p50Ms: pct(ps.map((p) => p.ms), 50), p95Ms: pct(ps.map((p) => p.ms), 95), maxMs: Math.max(...ps.map((p) => p.ms)) });
    measured.memoryIdle = { node1: await memory(n1), node2: await memory(nodes[1]!) };
    measured.probeIdle = { readyz: latency(await probe(n1, 'readinessProbe', 30, 100)), healthz: latency(await probe(n1, 'livenessProbe', 30, 100)) };

    // 5,000 more nodes, their InternalIPs on a /16 that node1 reaches
    // (a second link in node1's namespace), each with a /29 of the cluster CIDR.
    const ns = nodeNs(n1);
    await execa('ip', ['-n', ns, 'link', 'add', 'fnpeer0', 'type', 'veth', 'peer', 'name', 'fnpeer1']);
    for (const l of ['fnpeer0', 'fnpeer1']) await execa('ip', ['-n', ns, 'link', 'set', l, 'up']);
    await execa('ip', ['-n', ns, 'addr', 'add', '10.128.0.1/16', 'dev', 'fnpeer0']);
    const peers = Array.from({ length: 5000 }, (_, i) => c.nodeObject({ name: `peer-${i}`, podCIDRs: [`10.244.${16 + Math.floor(i / 32)}.${(i % 32) * 8}/29`], ips: [`10.128.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`] }));
    const statusFile = nodePath(n1, '/run/flatnet/agent.json');
    const peerCount = () => {
      try {
        return JSON.parse(readFileSync(statusFile, 'utf8')).peers.length as number;
      } catch {
        return 0; // replaced meanwhile
      }
    };
    const during = probe(n1, 'readinessProbe', 200, 25);
    const t0 = performance.now();
    await stub.send({ set: [...c.nodeObjects(), ...peers] });
    await c.waitFor('5,000 peers synced on node1', async () => peerCount() >= 5002, 120_000);
    measured.sync5000Seconds = Math.round((performance.now() - t0) / 100) / 10;
    const probesDuring = await during;
    measured.probeDuring5000 = latency(probesDuring);
    await sleep(2000);
    measured.memory5000 = { node1: await memory(n1), node2: await memory(nodes[1]!) };
    expect((await probe(n1, 'readinessProbe'))[0]).toMatchObject({ ok: true });
    expect((await probe(n1, 'livenessProbe'))[0]).toMatchObject({ ok: true });
    expect((await podman('inspect', '--format', '{{.State.Status}} {{.State.OOMKilled}}', agentName(n1))).stdout.trim()).toBe('running false');
  }, 300_000);
});
