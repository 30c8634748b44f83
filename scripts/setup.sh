#!/usr/bin/env bash
# Installs what stowage, its tests and its example need on a fresh Debian machine:
# the registry and the independent OCI clients (Debian packages), Node >= 22, and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(docker-registry wabt skopeo umoci runc busybox-static openssl containerd podman buildah zstd debootstrap xz-utils python3-pip python3-pip-whl python3-setuptools-whl python3-wheel-whl python3-dev python3-venv gcc ca-certificates)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "node $(node --version), npm $(npm --version)" >&2
npm ci --no-audit --no-fund >&2
