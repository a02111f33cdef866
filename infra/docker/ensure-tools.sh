#!/usr/bin/env bash
# Install the container tools `make image` needs (buildah, debootstrap) when they are missing.
# Idempotent: does nothing, not even `apt-get update`, when both are already on PATH.
set -euo pipefail

missing=()
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "ensure-tools: ${missing[*]} missing and not root (no sudo): install them first" >&2
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
    echo "ensure-tools: ${missing[*]} missing and no apt-get: install them first" >&2
    exit 1
}
echo "ensure-tools: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
buildah --version
