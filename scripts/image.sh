#!/usr/bin/env bash
# Builds the flatnet image with buildah (daemonless) from Debian packages
# only: a debootstrap'd minbase rootfs with iproute2, iptables and nftables
# (what the binaries exec; nft for the nftables masquerade backends), plus
# the standalone binaries. No image registry is needed.
# The result is a docker-archive, what `kind load image-archive`,
# `docker load` and `podman load` take, with the image named
# docker.io/library/flatnet:<version>: the name the DaemonSet's
# `image: flatnet:<version>` resolves to inside kind's containerd.
#   usage: scripts/image.sh [-o FILE] [TAG]   (default: -o dist/flatnet-image.tar, TAG flatnet:<package version>)
# Needs root; buildah and debootstrap come from `node scripts/setup.mjs image`,
# which this runs. buildah works in a private store in a temp dir, so nothing
# is left behind but the archive. DEBIAN_MIRROR overrides the Debian mirror.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/dist/flatnet-image.tar
tag=
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--output) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) tag=$1; shift ;;
  esac
done
tag=${tag:-flatnet:$(node -p "require('$root/package.json').version")}
# The fully qualified name, as containerd and podman normalize a short one.
case "$tag" in
  */*) first=${tag%%/*}
       case "$first" in *.*|*:*|localhost) name=$tag ;; *) name=docker.io/$tag ;; esac ;;
  *) name=docker.io/library/$tag ;;
esac
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

node "$root/scripts/setup.mjs" image
[ -x "$root/dist/bin/flatnet" ] && [ -x "$root/dist/bin/flatnet-ipam" ] && [ -x "$root/dist/bin/flatnet-cli" ] || (cd "$root" && npm run build)

t0=$SECONDS
work=$(mktemp -d /tmp/flatnet-image.XXXXXX)
# overlay, unless the temp dir is itself on overlayfs (a container), where vfs works.
driver=overlay
[ "$(stat -f -c %T "$work")" != overlayfs ] || driver=vfs
bah() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver "$driver" "$@"; }
ctr=
cleanup() {
  [ -z "$ctr" ] || bah rm "$ctr" >/dev/null 2>&1 || true
  # Anything buildah still has mounted under the private store goes first.
  grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap cleans up then too
# (an interrupted demo ends this script's process group with SIGTERM).
trap 'exit 143' TERM
trap 'exit 130' INT HUP

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
echo "flatnet: image: debootstrap bookworm minbase + iproute2, iptables, nftables from $mirror (about a minute) ..." >&2
# debootstrap says what it does on stdout, a line per package and step
# ("I: Retrieving libc6 2.36-9"): keep its stage lines and count the rest.
debootstrap --variant=minbase --include=iproute2,iptables,nftables bookworm "$work/rootfs" "$mirror" | awk '
  $1 != "I:" { print "  image: " $0; fflush(); next }
  $2 == "Validating" { next }
  ($2 == "Retrieving" && NF == 4) || ($2 ~ /^(Extracting|Unpacking|Configuring)$/ && NF == 3) {
    if (++n[$2] % 25 == 1) { printf "  image: %s packages (%d)\n", $2, n[$2]; fflush() }
    next
  }
  { print "  image: " substr($0, 4); fflush() }' >&2
rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
echo "flatnet: image: rootfs done in $((SECONDS - t0)) s; committing $name with buildah ..." >&2
ctr=$(bah from scratch)
bah copy "$ctr" "$work/rootfs" / >/dev/null
bah copy "$ctr" "$root/dist/bin/flatnet" "$root/dist/bin/flatnet-ipam" "$root/dist/bin/flatnet-cli" /usr/local/bin/ >/dev/null
bah config --entrypoint '["/usr/local/bin/flatnet"]' --cmd agent --label org.opencontainers.image.title=flatnet "$ctr"
mkdir -p "$(dirname "$out")"
rm -f "$out.tmp"
bah commit --quiet --format docker "$ctr" "docker-archive:$out.tmp:$name" >/dev/null
mv -f "$out.tmp" "$out"
echo "flatnet: image: wrote $out ($name, $(du -m "$out" | cut -f1) MiB) in $((SECONDS - t0)) s" >&2
echo "$out"
