#!/usr/bin/env bash
# Runs README commands, each as the first command on a fresh Debian 12
# machine: a debootstrap'd bookworm with only what such a machine brings
# (Node.js 20 with npm, git, python3, make, g++), a clean clone of this
# repository's HEAD, nothing installed by flatnet yet. A missing setup step
# (a Debian package a command needs but the setup does not install, a file
# only a developer's machine has) fails here, not on a user's machine.
#
#   scripts/fresh-machine.sh ['npm run demo' ...]   (default: build, demo, demo:cni)
#
# Each command gets its own copy of the base (cached in
# $FLATNET_FRESH_CACHE, default /var/cache/flatnet/fresh-machine, built once
# with debootstrap, about two minutes) and runs chrooted in a private mount
# and pid namespace: what it mounts (/run/netns, its apt installs) stays in
# that copy, and every process it leaves ends with the namespace's init.
# It shares the machine's network namespace (apt and npm need the mirror),
# exactly as the command would on a real machine; the commands themselves
# keep their work inside namespaces they create. Needs root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "fresh-machine: needs root (debootstrap, chroot, namespaces)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FLATNET_FRESH_CACHE:-/var/cache/flatnet/fresh-machine}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$cache/bookworm-base.tar
[ $# -gt 0 ] || set -- 'npm run build' 'npm run demo' 'npm run demo:cni'

if [ ! -s "$base" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/base.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "fresh-machine: debootstrap bookworm minbase from $mirror (once, about two minutes) ..." >&2
  debootstrap --variant=minbase --include=ca-certificates,git,python3,make,g++ bookworm "$tmp/rootfs" "$mirror" >/dev/null
  rm -rf "$tmp/rootfs/var/cache/apt/archives"/*.deb
  # Node.js 20 with npm, as a new machine of this kind has it: the files of
  # this machine's nodejs package (Debian's own bookworm has only 18), and
  # npm's directory as it is now (a machine upgrades npm when it starts, so
  # the package's list of npm files is stale).
  dpkg -L nodejs | while read -r f; do
    case "$f" in /usr/lib/node_modules/npm/*) continue ;; esac
    if [ -L "$f" ] || [ -f "$f" ]; then printf '%s\n' "${f#/}"; fi
  done > "$tmp/node.list"
  echo usr/lib/node_modules/npm >> "$tmp/node.list"
  # The machine's certificate authorities (a registry reached through a
  # TLS-inspecting egress needs its CA), as every machine of the kind has them.
  # Its npm configuration (registry, CA file) too.
  for f in etc/ssl/certs/ca-certificates.crt usr/local/share/ca-certificates usr/etc/npmrc etc/npmrc root/.npmrc; do
    if [ -e "/$f" ]; then echo "$f" >> "$tmp/node.list"; fi
  done
  tar -C / -cf - -T "$tmp/node.list" | tar -C "$tmp/rootfs" -xf -
  tar -C "$tmp/rootfs" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$tmp"; trap - EXIT
fi

# A copy's mounts live only in the command's private mount namespace, gone
# when it ends; the copy is removed only when nothing is mounted under it.
remove_copy() {
  local dir=$1
  if grep -q " $dir/" /proc/self/mounts; then
    echo "fresh-machine: $dir still has mounts; left in place" >&2
    return 1
  fi
  rm -rf "$dir"
}

failed=0
summary=()
for cmd in "$@"; do
  work=$(mktemp -d /var/tmp/flatnet-fresh.XXXXXX)
  trap 'remove_copy "$work"' EXIT
  root=$work/rootfs
  mkdir -p "$root"
  tar -C "$root" -xf "$base"
  git clone -q "$repo" "$root/root/flatnet"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  log=$work.log
  echo "fresh-machine: \`$cmd\` as the first command on a fresh Debian 12 (log: $log) ..." >&2
  t0=$SECONDS
  rc=0
  # The machine's CA settings in the environment (as its login environment has them).
  ca_env=$(env | grep -E '^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|GIT_SSL_CAINFO|REQUESTS_CA_BUNDLE)=' | tr '\n' ' ' || true)
  unshare --mount --pid --fork --propagation private bash -euc '
    root=$1; cmd=$2; ca_env=$3
    # "/" must be a mount point inside, as on a machine (ip netns exec makes it rslave).
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup" 2>/dev/null || true
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    mount -t tmpfs tmpfs "$root/tmp"
    mkdir -p "$root/lib/modules"
    [ ! -d /lib/modules ] || mount --bind -o ro /lib/modules "$root/lib/modules"
    exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 $ca_env \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive \
      bash -c "cd /root/flatnet && $cmd"
  ' fresh "$root" "$cmd" "$ca_env" > "$log" 2>&1 || rc=$?
  secs=$((SECONDS - t0))
  if [ $rc -eq 0 ]; then
    summary+=("ok    ${secs}s  $cmd")
    rm -f "$log" # kept only for a command that failed
  else
    failed=1
    summary+=("FAIL  ${secs}s  $cmd (exit $rc; last lines below)")
    tail -n 25 "$log" | sed 's/^/    /' >&2
  fi
  remove_copy "$work"
  trap - EXIT
done
printf '%s\n' "fresh-machine: each command as the first one on a fresh Debian 12:" "${summary[@]/#/  }"
exit $failed
