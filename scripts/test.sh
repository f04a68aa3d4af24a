#!/usr/bin/env bash
# The whole test suite: a Release build (with the CUDA backend when nvcc is
# found; GPU tests skip with their reason when there is no GPU), then the
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer in a
# CPU-only portable build, then the two builds' draws compared byte for byte.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
jobs=$(nproc)

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$jobs"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs"

cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMHMC_CUDA=OFF -DPMHMC_SANITIZE=ON \
  -DPMHMC_NATIVE=OFF >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$jobs"

# The native build (-march=native, 512-bit vectors where the CPU has them)
# and the portable one (baseline x86-64, sanitized) draw the same bits.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  bash "$root/tests/determinism/same_draws_on_every_cpu.sh" "$root/build/pmhmc" "$root/build-asan/pmhmc"
