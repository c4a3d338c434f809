// One node of a harness cluster: a network namespace and a private mount
// namespace (a "machine" as a kind node container is), in which containerd,
// kubelet and kube-proxy (and on the control-plane node etcd and the control
// plane) run at the paths a real node has. Inside the node:
//   - a fresh sysfs for its network namespace (the cgroup tree kept),
//   - /etc, /opt, /var/lib, /var/log overlaid on the machine's (writes land in
//     the node's directory, nothing is created in the machine's),
//   - /run the node's own directory (pod netns files, xtables.lock,
//     /run/flatnet),
//   - the global sysctls kubelet checks (protectKernelDefaults) shown as
//     files with the values it wants, so the machine's are never written.
// Processes are started with nsenter into the node's init (a `sleep` whose
// pid this module holds); stop() ends what runs in the node's mount
// namespace, read from that init while it is surely alive.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs as the node's init, in its new mount namespace: $1 the node's
// directory, $2 its hostname. Ends as `sleep`, the process that keeps the
// namespace; the ready file says the mounts are made.
const NODE_INIT = `set -eu
D=$1
hostname "$2"
mkdir -p "$D/cgroup"
mount --rbind /sys/fs/cgroup "$D/cgroup"
mount -t sysfs sysfs /sys
mount --move "$D/cgroup" /sys/fs/cgroup
for d in etc opt var/lib var/log; do
  k=$(echo "$d" | tr / -)
  mkdir -p "$D/fs/$k" "$D/fs/.work-$k"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$D/fs/$k,workdir=$D/fs/.work-$k" "/$d"
done
mkdir -p "$D/containerd" /var/lib/containerd
mount --bind "$D/containerd" /var/lib/containerd
mkdir -p "$D/run"
mount --bind "$D/run" /run
# The machine's own CNI configs, plugins and IPAM store (podman's
# 87-podman-bridge.conflist, say) are no node's: each starts empty.
rm -rf /etc/cni/net.d /opt/cni/bin /var/lib/cni
mkdir -p /opt/cni/bin /etc/cni/net.d /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers /run/flatnet
mkdir -p "$D/sysctl"
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=\${kv%%=*}
  f="$D/sysctl/$(echo "$k" | tr / .)"
  echo "\${kv#*=}" > "$f"
  mount --bind "$f" "/proc/sys/$k"
done
touch "$D/ready"
exec sleep infinity
`;

/** Every process whose parent chain leads to `pid`, deepest first. */
export function descendants(pid, parents) {
  const out = [];
  const walk = (p) => {
    for (const [c, pp] of parents) {
      if (pp !== p) continue;
      walk(c);
      out.push(c);
    }
  };
  walk(pid);
  return out;
}

/** Every process's parent and mount namespace, read from /proc. */
export function processTable() {
  const parents = new Map();
  const mnt = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      mnt.set(Number(d), readlinkSync(`/proc/${d}/ns/mnt`));
    } catch {
      // gone meanwhile, or a kernel thread without a readable namespace
    }
  }
  return { parents, mnt };
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export class KubeNode {
  /** @param {{ name: string, netns: string, dir: string, ip: string }} o */
  constructor(o) {
    Object.assign(this, o);
    this.procs = new Map();
    this.init = undefined;
    this.mntNs = '';
  }

  get netnsPath() {
    return `/run/netns/${this.netns}`;
  }

  /** Makes the node's mount namespace and its init. */
  async boot() {
    if (this.stopped) throw new Error(`node ${this.name} is being removed`);
    mkdirSync(join(this.dir, 'log'), { recursive: true });
    const log = openSync(join(this.dir, 'log', 'init.log'), 'a');
    this.init = spawn('nsenter', [`--net=${this.netnsPath}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', NODE_INIT, 'node-init', this.dir, this.name], { stdio: ['ignore', log, log] });
    for (let i = 0; i < 200 && !existsSync(join(this.dir, 'ready')); i++) {
      if (this.init.exitCode !== null) break;
      await sleep(50);
    }
    if (!existsSync(join(this.dir, 'ready'))) throw new Error(`node ${this.name} did not boot: ${readFileSync(join(this.dir, 'log', 'init.log'), 'utf8')}`);
    // Read once, while the init is surely alive: stop() compares against it
    // and must never compare against nothing.
    this.mntNs = readlinkSync(`/proc/${this.init.pid}/ns/mnt`);
    const own = readlinkSync('/proc/self/ns/mnt');
    if (!/^mnt:\[\d+\]$/.test(this.mntNs) || this.mntNs === own) throw new Error(`node ${this.name}: its mount namespace (${this.mntNs}) is not its own`);
  }

  /** The argv prefix that runs a command inside the node. */
  enter() {
    return ['nsenter', '-t', String(this.init.pid), '--net', '--mount', '--uts', '--'];
  }

  /** Runs a command in the node and returns its result (zx). */
  run(cmd, args, opts = {}) {
    const [bin, ...pre] = this.enter();
    return $({ ...opts, nothrow: opts.nothrow ?? false })`${bin} ${pre} ${cmd} ${args}`;
  }

  /** Imports an image archive into the node's containerd, as `kind load image-archive` does. */
  importImage(tar) {
    return this.run('ctr', ['-n', 'k8s.io', 'images', 'import', tar]);
  }

  /** Starts a long-running daemon in the node, its output in log/<name>.log. */
  start(name, cmd, args) {
    if (this.stopped) throw new Error(`node ${this.name} is being removed`);
    const log = openSync(join(this.dir, 'log', `${name}.log`), 'a');
    const [bin, ...pre] = this.enter();
    const child = spawn(bin, [...pre, cmd, ...args], { stdio: ['ignore', log, log] });
    this.procs.set(name, child);
    return child;
  }

  /** Throws, with its log's end, if a daemon this node started has exited. */
  assertRunning() {
    for (const [name, child] of this.procs) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} on ${this.name} exited (${child.exitCode ?? child.signalCode}):\n${this.logOf(name).slice(-2000)}`);
    }
  }

  logOf(name) {
    const f = join(this.dir, 'log', `${name}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops one daemon by the pid this node started it with. */
  async stopDaemon(name, { signal = 'SIGTERM', waitMs = 10_000 } = {}) {
    const child = this.procs.get(name);
    if (!child) return;
    this.procs.delete(name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await Promise.race([exited, sleep(waitMs)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  }

  /**
   * Ends everything the node runs: its daemons by pid, then every process in
   * its mount namespace (containerd's shims) with their descendants (the
   * containers), then its init, after which its mounts are gone with the
   * namespace.
   */
  async stop() {
    this.stopped = true;
    for (const name of ['kubelet', ...[...this.procs.keys()].filter((n) => n !== 'kubelet').reverse()]) await this.stopDaemon(name);
    if (!this.init) return;
    if (this.mntNs) {
      for (let round = 0; round < 3; round++) {
        const { parents, mnt } = processTable();
        const inNode = [...mnt].filter(([pid, ns]) => ns === this.mntNs && pid !== this.init.pid).map(([pid]) => pid);
        if (!inNode.length) break;
        for (const pid of inNode) {
          for (const p of [...descendants(pid, parents), pid]) {
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
        await sleep(200);
      }
    }
    if (this.init.exitCode === null && this.init.signalCode === null) {
      const exited = new Promise((r) => this.init.once('exit', r));
      this.init.kill('SIGKILL');
      await Promise.race([exited, sleep(3000)]);
    }
    for (let i = 0; i < 50 && alive(this.init.pid); i++) await sleep(50);
  }
}
