#!/usr/bin/env bash
# Run on a machine with the Debian package registry, before bench/gpu-check.sh
# goes to a GPU machine that has none: downloads the -dev packages the build
# needs (and their runtime libraries) as .deb files into .deps/debs/, which git
# ignores. gpu-check.sh unpacks them into a local prefix there (never into /).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.deps/debs
packages=(
  libgtest-dev
  libinih-dev libinih1
  libfftw3-dev libfftw3-double3 libfftw3-single3 libfftw3-long3 libfftw3-bin
  libopenblas-dev libopenblas0 libopenblas0-pthread libopenblas-pthread-dev libgfortran5
  libcjson-dev libcjson1
)
mkdir -p "$dest"
if ! apt-cache show libinih-dev >/dev/null 2>&1; then
  apt-get update -qq
fi
cd "$dest"
for pkg in "${packages[@]}"; do
  if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
    apt-get download -qq "$pkg"
  fi
done
echo "gpu-deps: $(ls "$dest"/*.deb | wc -l) packages in $dest ($(du -sh "$dest" | cut -f1))"
