#!/usr/bin/env bash
# HNN-HMC against PM-HMC and PM-NUTS on the paper's GLMM (T = 500, n = 6,
# p = 8, N = 128, data seed 1), one chain each (issue 6's benchmark):
#   1. PM-NUTS (configs/glmm_nuts.ini) for WARMUP + ITERATIONS transitions,
#      recording training data (every 4th leaf): the reference posterior;
#   2. pmhmc train on those records (configs/glmm_hnn_hmc.ini's network):
#      the training time;
#   3. HNN-HMC in exact and in surrogate mode on that network, started where
#      the PM-NUTS chain ended, WARMUP + ITERATIONS transitions each;
#   4. PM-HMC at the report's settings (configs/glmm_paper.ini), the same
#      number of transitions, from the report's start.
# Prints one row per run (worst ESS_bulk over the 13 parameters, sampling
# seconds, ESS_bulk/s, estimator evaluations during sampling, ESS per 1000
# evaluations, acceptance rate), then every parameter's posterior mean and
# MCSE under PM-NUTS and exact HNN-HMC with z = difference / combined MCSE.
# Estimator evaluations: PM-HMC L + 1 per transition (L with gradients),
# PM-NUTS n_leapfrog__ (with gradients), HNN-HMC n_estimator__ (values only).
# usage: bench/hnn_hmc.sh PMHMC_BINARY WARMUP ITERATIONS [backend]
set -euo pipefail
bin=$1 warmup=$2 iters=$3 backend=${4:-cpu}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$work" >/dev/null
common=(model.data="$work/data.csv" sampler.warmup="$warmup" sampler.iterations="$iters" sampler.chains=1
        sampler.backend="$backend" output.refresh=0 output.report=false)

"$bin" sample "$root/configs/glmm_nuts.ini" "${common[@]}" sampler.init_jitter=0 output.file="$work/nuts.csv" \
  hnn.collect="$work/records.bin" hnn.collect_every=4 --quiet >"$work/nuts.log" 2>&1
t0=$(date +%s.%N)
"$bin" train "$root/configs/glmm_hnn_hmc.ini" "${common[@]}" hnn.collect="$work/records.bin" \
  hnn.weights="$work/net.safetensors" >"$work/train.log" 2>&1
t1=$(date +%s.%N)
echo "training: $(grep -E 'records from' "$work/train.log"); $(grep -E 'epochs in' "$work/train.log")"
echo "training wall time: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (reading the records included)"
for mode in exact surrogate; do
  "$bin" sample "$root/configs/glmm_hnn_hmc.ini" "${common[@]}" hnn.weights="$work/net.safetensors" \
    hnn.accept=$mode sampler.init="$work/nuts.csv" sampler.init_jitter=0 output.file="$work/hnn_$mode.csv" \
    --quiet >"$work/hnn_$mode.log" 2>&1
done
"$bin" sample "$root/configs/glmm_paper.ini" "${common[@]}" output.file="$work/pmhmc.csv" --quiet \
  >"$work/pmhmc.log" 2>&1

printf "%-18s %10s %10s %10s %12s %14s %8s\n" run worst_ess sampling_s ess_per_s estimator_evals ess_per_1k_eval accept
row() {
  local name=$1 file=$2 ess secs evals accept
  ess=$("$bin" summary --csv "$file" 2>/dev/null |
        awk -F, 'NR>1 {gsub(/"/, "", $1)} NR>1 && $1 !~ /__$/ && $1 !~ /^(lambda|w)[0-9]/ {v=$9+0; if (min=="" || v<min) min=v} END{print min}')
  secs=$(grep -E "seconds \(Sampling\)" "$file" | awk '{print $2}')
  read -r evals accept < <(awk -F, -v steps="$(grep -E '^#   steps = ' "$file" | awk '{print $4}')" '
      /^#/ {next} !h {for (i=1;i<=NF;i++) c[$i]=i; h=1; next}
      { n++
        if ("n_estimator__" in c) { e+=$c["n_estimator__"]; a+=$c["accepted__"] }
        else if ("n_leapfrog__" in c) { e+=$c["n_leapfrog__"]; a+=$c["accept_stat__"] }
        else { e+=steps+1; a+=$c["accept_stat__"] } }
      END {printf "%d %.3f\n", e, a/n}' "$file")
  awk -v n="$name" -v e="$ess" -v s="$secs" -v p="$evals" -v a="$accept" \
    'BEGIN{printf "%-18s %10.1f %10.2f %10.2f %12d %14s %8s\n", n, e, s, e/s, p, (p>0 ? sprintf("%.2f", 1000*e/p) : "-"), a}'
}
row pmhmc_paper "$work/pmhmc.csv"
row pmnuts "$work/nuts.csv"
row hnn_hmc_exact "$work/hnn_exact.csv"
row hnn_hmc_surrogate "$work/hnn_surrogate.csv"

echo
echo "posterior means: PM-NUTS against HNN-HMC (z = difference / sqrt(MCSE_nuts^2 + MCSE_hnn^2))"
printf "%-12s %12s %10s %12s %10s %8s %12s\n" parameter nuts_mean nuts_mcse exact_mean exact_mcse z surrogate_mean
for run in nuts hnn_exact hnn_surrogate; do "$bin" summary --csv "$work/$run.csv" >"$work/$run.sum" 2>/dev/null; done
awk -F, 'FNR==1 {f++; next} {gsub(/"/, "", $1)} $1 ~ /__$/ {next}
         f==1 {order[++n]=$1; m1[$1]=$2; s1[$1]=$3} f==2 {m2[$1]=$2; s2[$1]=$3} f==3 {m3[$1]=$2}
         END {for (i=1;i<=n;i++) {k=order[i]; z=(m2[k]-m1[k])/sqrt(s1[k]^2+s2[k]^2)
              printf "%-12s %12.4f %10.4f %12.4f %10.4f %8.2f %12.4f\n", k, m1[k], s1[k], m2[k], s2[k], z, m3[k]}}' \
  "$work/nuts.sum" "$work/hnn_exact.sum" "$work/hnn_surrogate.sum"
