// containerd (Debian's 1.6) as a node's runtime, driven through its CRI as
// kubelet drives it. It runs in the node's network namespace and in a private
// mount namespace in which the node's own directories are /var and /run, so
// whatever containerd and the CNI plugins it runs read or write at the paths
// a kind node has (the IPAM store /var/lib/cni/networks, the agent's status
// /run/flatnet/agent.json, libcni's cache, the pod netns mounts under
// /run/netns, runc's state) is the node's, the same files the DaemonSet's
// hostPath volumes show the agent. Nothing lands on the machine's own /var or
// /run. No registry is reachable, so the sandbox ("pause") image is a busybox
// OCI image built here and imported with ctr; Debian has no crictl, so the
// CRI is spoken with gRPC (test/fixtures/cri-runtime-v1.proto).
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { execa } from 'execa';
import { ROOT } from './plugin.ts';
// @ts-expect-error: plain JS module shared with the Kubernetes harness
import { ociArchive } from '../../scripts/kube/oci.mjs';
// @ts-expect-error: plain JS module shared with the Kubernetes harness
import { descendants as descendantsOf, processTable } from '../../scripts/kube/node.mjs';

export const PAUSE_IMAGE = 'flatnet.local/pause:1';

/** A one-layer OCI image archive whose entrypoint sleeps: the pod sandbox image. */
export async function buildPauseImage(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const c of ['sleep', 'sh']) symlinkSync('busybox', join(rootfs, 'bin', c));
  return ociArchive(rootfs, [{ name: PAUSE_IMAGE, config: { Entrypoint: ['/bin/sleep', '3600'] } }], join(dir, 'pause.tar'));
}

export interface CriNodeOptions {
  /** The node's network namespace (a path). */
  netns: string;
  /** The directory playing the node's root filesystem: its var/ and run/ become /var and /run. */
  root: string;
  binDir: string;
  confDir: string;
  /** The pause image archive to import. */
  pauseImage: string;
}

export interface Sandbox {
  id: string;
  ip: string;
  pid: number;
}

/** Every process whose parent chain leads to `pid`, deepest first. */
const descendants = (pid: number): number[] => descendantsOf(pid, processTable().parents);

/** Processes whose command line names `needle` (our containerd's socket), e.g. its shims. */
function processesNaming(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(needle)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export class CriNode {
  readonly sandboxes = new Set<string>();
  private constructor(
    readonly sock: string,
    readonly log: string,
    private readonly daemon: ChildProcess,
    private readonly cri: any,
    private readonly logDir: string,
  ) {}

  static async start(o: CriNodeOptions): Promise<CriNode> {
    const d = (...p: string[]) => join(o.root, ...p);
    for (const sub of ['var/lib', 'var/log', 'var/tmp', 'run', 'etc/containerd']) mkdirSync(d(sub), { recursive: true });
    if (!existsSync(d('var/run'))) symlinkSync('/run', d('var/run'));
    const sock = d('run', 'containerd', 'containerd.sock');
    const config = d('etc', 'containerd', 'config.toml');
    writeFileSync(
      config,
      [
        'version = 2',
        `root = "${d('var/lib/containerd')}"`,
        `state = "${d('run/containerd')}"`,
        '[grpc]',
        `  address = "${sock}"`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${d('opt/containerd')}"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${PAUSE_IMAGE}"`,
        '  disable_apparmor = true',
        '  restrict_oom_score_adj = true',
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "native"',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        `    bin_dir = "${o.binDir}"`,
        `    conf_dir = "${o.confDir}"`,
        '',
      ].join('\n'),
    );
    const log = d('var/log/containerd.log');
    const fd = openSync(log, 'a');
    // nsenter --net (ip netns exec would remount /sys and hide the cgroup
    // tree), then a private mount namespace with the node's /var and /run;
    // nsenter, unshare and sh exec in turn, so the child is containerd.
    const daemon = spawn('nsenter', [`--net=${o.netns}`, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" /var && mount --bind "$2" /run && exec containerd --config "$3"', 'sh', d('var'), d('run'), config], { stdio: ['ignore', fd, fd] });
    for (let i = 0; i < 300 && !existsSync(sock) && daemon.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(sock)) throw new Error(`containerd did not start: ${readFileSync(log, 'utf8').slice(-2000)}`);
    await execa('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'import', o.pauseImage]);
    const def = protoLoader.loadSync(join(ROOT, 'test', 'fixtures', 'cri-runtime-v1.proto'), { keepCase: false, longs: String, defaults: true });
    const proto = grpc.loadPackageDefinition(def) as any;
    const cri = new proto.runtime.v1.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure());
    return new CriNode(sock, log, daemon, cri, d('var/log/pods'));
  }

  call(method: string, req: object): Promise<any> {
    return new Promise((res, rej) => this.cri[method](req, (e: Error | null, r: any) => (e ? rej(e) : res(r))));
  }

  /** The runtime's NetworkReady condition, as kubelet reads it for the node's Ready. */
  async networkReady(): Promise<{ status: boolean; reason: string; message: string }> {
    const s = await this.call('Status', { verbose: false });
    const c = s.status.conditions.find((x: any) => x.type === 'NetworkReady');
    return { status: c.status, reason: c.reason, message: c.message };
  }

  async runPod(name: string): Promise<Sandbox> {
    const r = await this.call('RunPodSandbox', { config: { metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 }, hostname: name, logDirectory: join(this.logDir, name) } });
    this.sandboxes.add(r.podSandboxId);
    const st = await this.call('PodSandboxStatus', { podSandboxId: r.podSandboxId, verbose: true });
    return { id: r.podSandboxId, ip: st.status.network.ip, pid: JSON.parse(st.info.info).pid };
  }

  async removePod(id: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId: id });
    await this.call('RemovePodSandbox', { podSandboxId: id });
    this.sandboxes.delete(id);
  }

  /** Removes every sandbox, stops containerd, and ends any shim (and its children) it left. */
  async stop(): Promise<void> {
    for (const id of this.sandboxes) await this.removePod(id).catch(() => undefined);
    this.cri.close();
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      const exited = new Promise((r) => this.daemon.once('exit', r));
      this.daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (this.daemon.exitCode === null && this.daemon.signalCode === null) this.daemon.kill('SIGKILL');
    }
    for (const shim of processesNaming(this.sock)) {
      for (const p of [...descendants(shim), shim]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}
