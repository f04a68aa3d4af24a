#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those missing.
# Sourced by scripts/main.sh and scripts/test.sh.
set -euo pipefail
pmhmc_packages=(cmake g++ make libgtest-dev libinih-dev libfftw3-dev libcjson-dev libopenblas-dev)
missing=()
for pkg in "${pmhmc_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "pmhmc: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
