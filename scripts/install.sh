#!/usr/bin/env bash
# Installs flatnet and flatnet-ipam (the CNI binaries) and flatnet-cli (agent
# and CLI, which `flatnet <subcommand>` execs) into the CNI bin dir, and the
# example conflist into the conf dir (only if none is there yet).
#   usage: scripts/install.sh [--bin-dir DIR] [--conf-dir DIR]   (defaults: /opt/cni/bin, /etc/cni/net.d)
set -euo pipefail
bin_dir=/opt/cni/bin
conf_dir=/etc/cni/net.d
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --conf-dir) conf_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/dist/bin/flatnet" ] || [ ! -x "$root/dist/bin/flatnet-ipam" ] || [ ! -x "$root/dist/bin/flatnet-cli" ]; then
  # npm run build runs scripts/setup.mjs build first (npm install when needed).
  (cd "$root" && npm run build)
fi
install -d -m 0755 "$bin_dir" "$conf_dir"
for b in flatnet flatnet-ipam flatnet-cli; do
  # Copy then rename: a runtime exec'ing the old binary never sees a torn file.
  install -m 0755 "$root/dist/bin/$b" "$bin_dir/.$b.new"
  mv -f "$bin_dir/.$b.new" "$bin_dir/$b"
done
# Any config a runtime would load (.conf, .conflist, .json, as libcni reads)
# is the node's, edited or written by the agent: never replaced.
existing=$(find "$conf_dir" -maxdepth 1 -type f \( -name '*.conf' -o -name '*.conflist' -o -name '*.json' \) -print -quit)
if [ -z "$existing" ]; then
  install -m 0644 "$root/conf/10-flatnet.conflist" "$conf_dir/10-flatnet.conflist"
  echo "installed $conf_dir/10-flatnet.conflist (edit its subnet to this node's podCIDR)"
else
  echo "kept the CNI config already in $conf_dir ($existing and any others): the example was not installed"
fi
echo "installed flatnet, flatnet-ipam, flatnet-cli into $bin_dir"
