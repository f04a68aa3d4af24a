#!/usr/bin/env bash
# The one prepared check for a GPU machine: configure for sm_90 only, Release
# build, the whole ctest suite with GPU tests required (PMHMC_REQUIRE_GPU=1
# turns their skip into a failure), then the GPU and CPU benchmarks, then a
# short summary of the GPU benchmark's decision lines (fastest GLMM kernel
# variant; per-step time and transitions/s per trajectory mode; K chains on
# one GPU, stream per chain against the chain-dimension proxy; PM-HMC at the
# paper's settings in float and double), then ESS per second of PM-HMC and
# PM-NUTS on the paper's GLMM (bench/ess_per_second.sh) on the GPU and on the
# host's cores, then the HNN samplers (bench/hnn_samplers.sh) on the GPU.
# Logs and result CSVs go to $OUT when it is set (else
# bench/out/gpu-check/): 10 files.
#
# The GPU machine has CUDA, CMake and Python but no network and none of our
# Debian -dev packages: run bench/gpu-deps.sh beforehand on a machine with the
# package registry and carry .deps/ along; this script unpacks the .deb files
# into .deps/prefix (dpkg -x, never into /) and points CMake there.
#
# --quick: the tests, the GPU ESS comparison (500 warm-up + 1000 draws) and
# the HNN samplers' comparison (bench/hnn_samplers.sh, 500 + 1500), for a
# lease too short for the whole check.
set -uo pipefail
quick=0
[ "${1:-}" = --quick ] && quick=1
t_start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/bench/out/gpu-check}
mkdir -p "$out"
log() { echo "gpu-check [$(( $(date +%s) - t_start ))s] $*"; }

prefix=$root/.deps/prefix
if ls "$root"/.deps/debs/*.deb >/dev/null 2>&1; then
  mkdir -p "$prefix"
  for deb in "$root"/.deps/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
  export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  cmake_prefix=(-DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu"
                -DCMAKE_INCLUDE_PATH="$prefix/usr/include")
else
  log "no .deps/debs: using the system's packages"
  cmake_prefix=()
fi

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
nproc_n=$(nproc)
build=$root/build-gpu
log "configure"
cmake -S "$root" -B "$build" -DPMHMC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
  "${cmake_prefix[@]}" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
log "build"
cmake --build "$build" -j"$nproc_n" >"$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -40; exit 1; }

log "tests (GPU required)"
# The GPU tests run one at a time: many small kernels and synchronizations
# from 16 processes at once time-slice the GPU between contexts and ran the
# PM-NUTS ones 50x slower (216-407 s each on an H100, session 3).
PMHMC_REQUIRE_GPU=1 ctest --test-dir "$build" --output-on-failure -j"$nproc_n" --timeout 300 -E "cuda|Cuda" \
  >"$out/ctest.log" 2>&1
cpu_rc=$?
PMHMC_REQUIRE_GPU=1 ctest --test-dir "$build" --output-on-failure -j1 --timeout 300 -R "cuda|Cuda" \
  >>"$out/ctest.log" 2>&1
test_rc=$(( cpu_rc || $? ))
grep -E "tests passed|tests failed|\*\*\*Failed|Timeout|Not Run" "$out/ctest.log" | head -40

if [ $quick = 1 ]; then
  log "ESS per second on the paper's GLMM, GPU, float, 500 warm-up + 1000 draws"
  timeout 300 bash "$root/bench/ess_per_second.sh" "$build/pmhmc" 500 1000 cuda 2>&1 | tee "$out/ess.txt"
  log "HNN samplers on the paper's GLMM, GPU (training on the GPU too), 500 warm-up + 1500 draws"
  timeout 400 bash "$root/bench/hnn_samplers.sh" "$build/pmhmc" 500 1500 cuda 2>&1 | tee "$out/hnn.txt"
  log "done (quick): tests rc=$test_rc, total $(( $(date +%s) - t_start ))s"
  exit $test_rc
fi

log "GPU benchmark"
OUT=$out timeout 240 "$build/bench_cuda" 2>&1 | tee "$out/bench_cuda.txt"
log "CPU benchmark on this machine"
timeout 120 "$build/bench_estimator" --reps 7 --csv "$out/bench_cpu.csv" 2>&1 | tee "$out/bench_cpu.txt"

log "PM-HMC at the paper's settings on the GPU (configs/glmm_paper.ini: 5000 warm-up, 25000 draws)"
paper=$(mktemp -d)
"$build/pmhmc" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$paper" >/dev/null
for prec in float double; do
  echo "--- precision = $prec"
  timeout 120 "$build/pmhmc" sample "$root/configs/glmm_paper.ini" model.data="$paper/data.csv" \
    output.file="$paper/draws_$prec.csv" sampler.backend=cuda sampler.precision=$prec output.refresh=0 \
    --truth "$paper/truth.csv" 2>&1 | tail -26 | tee -a "$out/bench_cuda.txt"
done

log "ESS per second on the paper's GLMM: PM-HMC (paper settings) vs PM-NUTS (both U-turn criteria)"
echo "--- GPU, float, 500 warm-up + 2000 draws" | tee "$out/ess.txt"
timeout 300 bash "$root/bench/ess_per_second.sh" "$build/pmhmc" 500 2000 cuda 2>&1 | tee -a "$out/ess.txt"
echo "--- CPU backend on this machine's $nproc_n cores, 200 warm-up + 300 draws" | tee -a "$out/ess.txt"
OMP_NUM_THREADS=$nproc_n timeout 200 bash "$root/bench/ess_per_second.sh" "$build/pmhmc" 200 300 cpu 2>&1 |
  tee -a "$out/ess.txt"

log "HNN samplers on the paper's GLMM, GPU (training on the GPU too), 500 warm-up + 1500 draws"
timeout 400 bash "$root/bench/hnn_samplers.sh" "$build/pmhmc" 500 1500 cuda 2>&1 | tee "$out/hnn.txt"

log "summary (bench_cuda: kernel variants, trajectory modes, K chains; paper run)"
grep -E "^fastest float variant" "$out/bench_cuda.txt"
grep -A4 -E "^2\. per call" "$out/bench_cuda.txt" | tail -3
grep -A3 -E "^3\. PM-HMC" "$out/bench_cuda.txt" | tail -3
grep -A9 -E "^size +K " "$out/bench_cuda.txt"
grep -E "^faster K-chain option" "$out/bench_cuda.txt"
grep -E "^(acceptance rate|elapsed)" "$out/bench_cuda.txt"
log "done: tests rc=$test_rc, total $(( $(date +%s) - t_start ))s"
exit $test_rc
