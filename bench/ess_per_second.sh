#!/usr/bin/env bash
# ESS per second on the paper's GLMM (T = 500, n = 6, p = 8, N = 128, data
# seed 1): PM-HMC at the report's hand-tuned settings (configs/glmm_paper.ini)
# against PM-NUTS with adaptation (configs/glmm_nuts.ini) with each U-turn
# criterion. One chain each, from the report's start, the same warm-up and
# saved draws for every run; prints one row per run:
#   worst ESS_bulk over the parameters, sampling seconds, ESS_bulk/s,
#   estimator-gradient passes during sampling, ESS per 1000 passes,
#   mean acceptance statistic, divergences.
# usage: bench/ess_per_second.sh PMHMC_BINARY WARMUP ITERATIONS [backend]
set -euo pipefail
bin=$1 warmup=$2 iters=$3 backend=${4:-cpu}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$work" >/dev/null
common=(model.data="$work/data.csv" sampler.warmup="$warmup" sampler.iterations="$iters" sampler.chains=1
        sampler.init_jitter=0 sampler.backend="$backend" output.refresh=0 output.report=false
        model.proposal=fixed model.N=128) # the report's estimator, as RESULTS.md's tables were measured
# (and all the CUDA backend runs yet); bench/pmnuts_estimators.sh compares the estimators
printf "%-16s %10s %10s %10s %12s %14s %8s %6s\n" run worst_ess sampling_s ess_per_s grad_passes ess_per_1k_pass accept div
run() {
  local name=$1 cfg=$2; shift 2
  "$bin" sample "$root/configs/$cfg" "${common[@]}" output.file="$work/$name.csv" "$@" --quiet >"$work/$name.log" 2>&1
  local ess secs passes accept div
  ess=$("$bin" summary --csv "$work/$name.csv" 2>/dev/null |
        awk -F, 'NR>1 {gsub(/"/, "", $1)} NR>1 && $1 !~ /__$/ && $1 !~ /^(lambda|w)[0-9]/ {v=$9+0; if (min=="" || v<min) min=v} END{print min}')
  secs=$(grep -E "seconds \(Sampling\)" "$work/$name.csv" | awk '{print $2}')
  read -r passes accept div < <(awk -F, -v steps="$(grep -E '^#   steps = ' "$work/$name.csv" | awk '{print $4}')" '
      /^#/ {next} !h {for (i=1;i<=NF;i++) c[$i]=i; h=1; next}
      {n++; a+=$c["accept_stat__"]; if ("n_leapfrog__" in c) {p+=$c["n_leapfrog__"]; d+=$c["divergent__"]} else p+=steps}
      END {printf "%d %.3f %d\n", p, a/n, d}' "$work/$name.csv")
  awk -v n="$name" -v e="$ess" -v s="$secs" -v p="$passes" -v a="$accept" -v d="$div" \
    'BEGIN{printf "%-16s %10.1f %10.2f %10.2f %12d %14.2f %8s %6s\n", n, e, s, e/s, p, 1000*e/p, a, d}'
}
run pmhmc_paper glmm_paper.ini
run pmnuts_extended glmm_nuts.ini nuts.uturn=extended
run pmnuts_theta glmm_nuts.ini nuts.uturn=theta
