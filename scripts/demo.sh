#!/usr/bin/env bash
# Demo: a node namespace with two pods on the flatnet bridge, driven through
# the raw CNI protocol; shows results, a ping between pods, then cleans up.
# Everything lives in namespaces named fnd-<pid>-*; the host is not touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$root/dist/bin/flatnet" ] || (cd "$root" && npm run build)
bin=$root/dist/bin
work=$(mktemp -d /tmp/flatnet-demo.XXXXXX)
# Names of this run only: two demos at once do not meet.
node=fnd-$$-node pod1=fnd-$$-pod1 pod2=fnd-$$-pod2
cleanup() { for n in $node $pod1 $pod2; do ip netns del $n 2>/dev/null || true; done; rm -rf "$work"; echo "cleaned up: $node $pod1 $pod2 and $work removed"; }
trap cleanup EXIT
for n in $node $pod1 $pod2; do ip netns add $n; done
sed "s#/run/flatnet-demo/ipam#$work/ipam#" "$root/conf/manual-add.json" > "$work/conf.json"
cni() { # cni COMMAND POD ID
  ip netns exec $node env CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/var/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=$bin "$bin/flatnet" < "$work/conf.json"
}
echo "== ADD pod1"; cni ADD $pod1 pod1; echo
echo "== ADD pod2"; out=$(cni ADD $pod2 pod2); echo "$out"
ip2=$(echo "$out" | sed -n 's/.*"address": "\([0-9.]*\)\/.*/\1/p')
echo "== pod1 -> pod2 ($ip2)"; ip netns exec $pod1 ping -c 2 -W 2 "$ip2"
echo "== IPAM store"; ls -l "$work/ipam/demo"
echo "== DEL"; cni DEL $pod1 pod1; cni DEL $pod2 pod2; echo "done"
