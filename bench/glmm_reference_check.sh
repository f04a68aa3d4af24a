#!/usr/bin/env bash
# Every exact sampler against the GLMM's exact posterior. The paper's data
# (T = 500, n = 6, p = 8, N = 128, data seed 1), prior N(0, PRIOR_VAR) on
# every component of theta, four chains per run:
#   1. glmm_exact_posterior: random-walk Metropolis on the exact marginal
#      posterior (adaptive Gauss-Hermite quadrature over each random effect),
#      10000 warm-up + 200000 iterations per chain, every 20th kept: the
#      reference, independent of the estimator and of the samplers;
#   2. PM-NUTS (configs/glmm_nuts.ini), WARMUP + ITERATIONS per chain,
#      recording training data at every 8th leaf;
#   3. pmhmc train on those records (configs/glmm_hnn_hmc.ini's network);
#   4. exact HNN-HMC and exact HNN-PM-NUTS, WARMUP + HNN_ITERATIONS per chain,
#      each chain started where its PM-NUTS chain ended;
# then prints bench/compare_means.sh's table: every parameter's mean under
# each run against the reference's, z = difference / combined MCSE.
# usage: bench/glmm_reference_check.sh BUILD_DIR PRIOR_VAR WARMUP ITERATIONS HNN_ITERATIONS OUT_DIR
set -euo pipefail
if [ $# -ne 6 ]; then
  echo "usage: bench/glmm_reference_check.sh BUILD_DIR PRIOR_VAR WARMUP ITERATIONS HNN_ITERATIONS OUT_DIR" >&2
  exit 2
fi
build=$1 prior_var=$2 warmup=$3 iters=$4 hnn_iters=$5 out=$6
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/pmhmc
mkdir -p "$out"
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$out" >/dev/null
common=(model.data="$out/data.csv" model.prior_var="$prior_var" sampler.chains=4 sampler.warmup="$warmup"
        output.refresh=0 output.report=false model.proposal=fixed model.N=128) # the estimator RESULTS.md recorded
timed() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s)
  if ! "$@" >"$out/$name.log" 2>&1; then
    echo "$name failed; the end of $out/$name.log:" >&2
    tail -n 20 "$out/$name.log" >&2
    exit 1
  fi
  t1=$(date +%s)
  echo "$name: $((t1 - t0)) s"
}

timed reference "$build/glmm_exact_posterior" "$out/data.csv" "$out/reference" --chains 4 --warmup 10000 \
  --iterations 200000 --thin 20 --prior-var "$prior_var" --relabel
timed pmnuts "$bin" sample "$root/configs/glmm_nuts.ini" "${common[@]}" sampler.iterations="$iters" \
  output.file="$out/pmnuts.csv" hnn.collect="$out/records.bin" hnn.collect_every=8 --quiet
timed train "$bin" train "$root/configs/glmm_hnn_hmc.ini" "${common[@]}" hnn.collect="$out/records.bin" \
  hnn.weights="$out/net.safetensors"
hnn=("${common[@]}" sampler.iterations="$hnn_iters" hnn.weights="$out/net.safetensors" sampler.init="$out/pmnuts.csv"
     sampler.init_jitter=0 hnn.accept=exact)
timed hnn_hmc "$bin" sample "$root/configs/glmm_hnn_hmc.ini" "${hnn[@]}" output.file="$out/hnn_hmc.csv" --quiet
timed hnn_nuts "$bin" sample "$root/configs/glmm_hnn_nuts.ini" "${hnn[@]}" hnn.monitor=surrogate \
  output.file="$out/hnn_nuts.csv" --quiet
grep -hE "acceptance|quadrature" "$out/reference.log" || true
bash "$root/bench/compare_means.sh" "$bin" "$out/reference" pmnuts="$out/pmnuts" hnn_hmc="$out/hnn_hmc" \
  hnn_nuts="$out/hnn_nuts"
