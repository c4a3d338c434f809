// A view of this machine without iptables, for the nftables-only tests: a
// mount namespace whose /usr/sbin (and so /sbin) is a tmpfs holding links to
// every program of the real one except the iptables family (iptables*,
// ip6tables*, xtables-*, ebtables*, arptables*). Whatever runs in it (the
// agent, libcni-driver, the plugins they exec, `ip netns exec`, which inherits
// the view) finds no iptables binary at all, as on an nftables-only node.
// Its mounts are slaves of the host's: network namespaces made later
// (/run/netns) show up in it, and nothing mounted in it shows up outside. It
// ends with its holder process.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const SETUP = `
set -e
mount --bind /usr/sbin "$REAL"
mount -t tmpfs -o mode=0755 fnc-sbin /usr/sbin
for f in "$REAL"/*; do
  b=\${f##*/}
  case " $ALSO_HIDE " in *" $b "*) continue ;; esac
  case "$b" in iptables*|ip6tables*|xtables-*|ebtables*|arptables*) ;; *) ln -s "$f" "/usr/sbin/$b" ;; esac
done
echo ready
exec sleep infinity
`;

/**
 * Starts the holder of the mount namespace; resolves once the view is ready.
 * `alsoHide` names more programs of /usr/sbin to leave out (e.g. `nft`).
 * `prefix` runs a command inside it (`[...prefix, 'ip', 'netns', 'exec', …]`);
 * `stop()` ends it.
 */
export async function startNoIptables(workDir, { alsoHide = [] } = {}) {
  mkdirSync(workDir, { recursive: true });
  const real = mkdtempSync(join(workDir, 'real-sbin-'));
  // The holder dies with this process (pdeathsig), so a crashed test leaves no view behind.
  const holder = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--propagation', 'slave', '--', 'sh', '-c', SETUP], { env: { ...process.env, REAL: real, ALSO_HIDE: alsoHide.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  holder.stderr.on('data', (d) => (err += d));
  await new Promise((resolve, reject) => {
    holder.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    holder.once('exit', (code) => reject(new Error(`no-iptables view failed (exit ${code}): ${err}`)));
  });
  return {
    pid: holder.pid,
    prefix: ['nsenter', `--mount=/proc/${holder.pid}/ns/mnt`, '--'],
    stop: async () => {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      await new Promise((resolve) => {
        holder.once('exit', resolve);
        holder.kill('SIGKILL');
      });
    },
  };
}
