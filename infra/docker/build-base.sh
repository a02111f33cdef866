#!/usr/bin/env bash
# Build the local base image (Debian bookworm + python3 3.11 + venv + CA certificates) with
# debootstrap, for machines that cannot pull `python:3.11-slim` from a registry.
#
#   infra/docker/build-base.sh [IMAGE]        # default localhost/flowlib-base:bookworm
#
# Cached: returns at once when IMAGE is already in buildah's storage (FORCE=1 rebuilds it).
# Environment: BUILDAH (the buildah command with its storage options), DEBIAN_MIRROR, SUITE.
set -euo pipefail

image="${1:-localhost/flowlib-base:bookworm}"
buildah_cmd="${BUILDAH:-buildah --storage-driver vfs}"
read -r -a buildah <<<"$buildah_cmd"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${SUITE:-bookworm}"

if [ "${FORCE:-0}" != 1 ] && "${buildah[@]}" inspect --type image "$image" >/dev/null 2>&1; then
    echo "build-base: $image is cached (FORCE=1 to rebuild)"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-base: debootstrap needs root" >&2; exit 1; }

workdir="$(mktemp -d /var/tmp/flowlib-base.XXXXXX)"
container=""
cleanup() {
    [ -n "$container" ] && "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap cleanup EXIT

rootfs="$workdir/rootfs"
start=$SECONDS
echo "build-base: debootstrap $suite from $mirror (about a minute)"
if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1; then
    tail -n 30 "$workdir/debootstrap.log" >&2
    exit 1
fi
# Slim it down: package caches, indexes, docs; and nothing of this host (resolv.conf, hostname).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/etc/resolv.conf
echo localhost >"$rootfs/etc/hostname"
python_version="$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')"

container="$("${buildah[@]}" from scratch)"
# Copy through a mount (not `buildah copy`, which would make every file root-owned).
mnt="$("${buildah[@]}" mount "$container")"
cp -a "$rootfs/." "$mnt/"
"${buildah[@]}" umount "$container" >/dev/null
"${buildah[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd /bin/bash \
    --label "org.opencontainers.image.title=flowlib-base" \
    --label "org.opencontainers.image.description=Debian $suite minbase + python3 $python_version (debootstrap)" \
    --label "org.opencontainers.image.base.name=debian:$suite" \
    "$container"
"${buildah[@]}" commit --quiet --rm "$container" "$image" >/dev/null
container=""
echo "build-base: $image built in $((SECONDS - start)) s (python $python_version)"
