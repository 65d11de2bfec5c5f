#!/usr/bin/env bash
# Installs every Debian package lakesync needs to build, test and run its demo.
# Idempotent: packages already present are not touched, and apt is not consulted at all
# when nothing is missing. Runs as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format
  prometheus-cpp-dev libpoco-dev libyaml-cpp-dev libpq-dev libspdlog-dev libfmt-dev
  libsimdjson-dev libxxhash-dev libgtest-dev libgmock-dev libcli11-dev
  postgresql postgresql-client
  prometheus python3
)
# clang gives the libFuzzer target; optional elsewhere, installed here so CI exercises it.
packages+=(clang)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
