#!/usr/bin/env bash
# Builds the flatnet image with buildah (daemonless), from Debian packages
# only: a debootstrap'd minbase rootfs with iproute2 and iptables (what the
# binaries exec), plus the standalone binaries. No registry is needed.
#   scripts/image.sh [TAG]      (default flatnet:<package version>)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-flatnet:$(node -p "require('$root/package.json').version")}
command -v buildah >/dev/null && command -v debootstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
}
[ -x "$root/dist/bin/flatnet" ] || (cd "$root" && npm run build)
work=$(mktemp -d /tmp/flatnet-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=iproute2,iptables bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
buildah copy "$ctr" "$work/rootfs" / >/dev/null
buildah copy "$ctr" "$root/dist/bin/flatnet" "$root/dist/bin/flatnet-ipam" "$root/dist/bin/flatnet-cli" /usr/local/bin/ >/dev/null
buildah config --entrypoint '["/usr/local/bin/flatnet"]' --cmd agent --label org.opencontainers.image.title=flatnet "$ctr"
buildah commit "$ctr" "$tag" >/dev/null
echo "built $tag"
