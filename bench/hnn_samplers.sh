#!/usr/bin/env bash
# The HNN samplers against PM-HMC and PM-NUTS on the paper's GLMM (T = 500,
# n = 6, p = 8, N = 128, data seed 1), one chain each (the benchmarks of the
# HNN-HMC and HNN-PM-NUTS issues):
#   1. PM-NUTS (configs/glmm_nuts.ini) for WARMUP + ITERATIONS transitions,
#      recording training data (every 4th leaf): the reference posterior;
#   2. pmhmc train on those records (configs/glmm_hnn_hmc.ini's network),
#      on the GPU when BACKEND is cuda: the training time;
#   3. HNN-HMC in exact and surrogate mode, and HNN-PM-NUTS exact (surrogate
#      monitor), surrogate mode with the surrogate monitor and with the true
#      monitor, each started where the PM-NUTS chain ended, WARMUP +
#      ITERATIONS transitions;
#   4. PM-HMC at the report's settings (configs/glmm_paper.ini), the same
#      number of transitions, from the report's start.
# Prints one row per run: worst ESS_bulk over the 13 parameters, sampling
# seconds, ESS_bulk/s, estimator evaluations with gradients and without
# during sampling, ESS per 1000 estimator evaluations, the fraction of moves
# (accepted__, or mean accept_stat__ where there is none), the fraction of
# transitions in cooldown; then every parameter's posterior mean under
# PM-NUTS and each exact HNN run, with z = difference / combined MCSE, and
# the surrogate runs' means.
# usage: bench/hnn_samplers.sh PMHMC_BINARY WARMUP ITERATIONS [backend]
set -euo pipefail
bin=$1 warmup=$2 iters=$3 backend=${4:-cpu}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$work" >/dev/null
common=(model.data="$work/data.csv" sampler.warmup="$warmup" sampler.iterations="$iters" sampler.chains=1
        sampler.backend="$backend" output.refresh=0 output.report=false
        model.proposal=fixed model.N=128) # the report's estimator, as RESULTS.md's tables were measured
# (and all the CUDA backend runs yet); bench/pmnuts_estimators.sh compares the estimators

"$bin" sample "$root/configs/glmm_nuts.ini" "${common[@]}" sampler.init_jitter=0 output.file="$work/pmnuts.csv" \
  hnn.collect="$work/records.bin" hnn.collect_every=4 --quiet >"$work/pmnuts.log" 2>&1
t0=$(date +%s.%N)
"$bin" train "$root/configs/glmm_hnn_hmc.ini" "${common[@]}" hnn.collect="$work/records.bin" \
  hnn.weights="$work/net.safetensors" >"$work/train.log" 2>&1
t1=$(date +%s.%N)
echo "training: $(grep -E 'records from' "$work/train.log"); $(grep -E 'epochs in' "$work/train.log")"
grep -E 'left out' "$work/train.log" || true
echo "training wall time: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (reading the records included)"
hnn=(hnn.weights="$work/net.safetensors" sampler.init="$work/pmnuts.csv" sampler.init_jitter=0)
run_hnn() {
  local name=$1 cfg=$2; shift 2
  "$bin" sample "$root/configs/$cfg" "${common[@]}" "${hnn[@]}" output.file="$work/$name.csv" "$@" --quiet \
    >"$work/$name.log" 2>&1
}
run_hnn hnn_hmc_exact glmm_hnn_hmc.ini hnn.accept=exact
run_hnn hnn_hmc_surrogate glmm_hnn_hmc.ini hnn.accept=surrogate
run_hnn hnn_nuts_exact glmm_hnn_nuts.ini hnn.accept=exact hnn.monitor=surrogate
run_hnn hnn_nuts_surr_mon_surr glmm_hnn_nuts.ini hnn.accept=surrogate hnn.monitor=surrogate
run_hnn hnn_nuts_surr_mon_true glmm_hnn_nuts.ini hnn.accept=surrogate hnn.monitor=true
"$bin" sample "$root/configs/glmm_paper.ini" "${common[@]}" output.file="$work/pmhmc.csv" --quiet \
  >"$work/pmhmc.log" 2>&1

printf "%-24s %9s %10s %9s %10s %10s %12s %7s %9s\n" run worst_ess sampling_s ess_per_s grad_evals value_evals \
  ess_per_1k_eval moved cooldown
row() {
  local name=$1 file=$work/$1.csv ess secs counts
  ess=$("$bin" summary --csv "$file" 2>/dev/null |
        awk -F, 'NR>1 {gsub(/"/, "", $1)} NR>1 && $1 !~ /__$/ && $1 !~ /^(lambda|w)[0-9]/ {v=$9+0; if (min=="" || v<min) min=v} END{print min}')
  secs=$(grep -E "seconds \(Sampling\)" "$file" | awk '{print $2}')
  counts=$(awk -F, -v steps="$(grep -E '^#   steps = ' "$file" | awk '{print $4}')" '
      /^#/ {next} !h {for (i=1;i<=NF;i++) c[$i]=i; h=1; next}
      { n++
        if ("n_gradient__" in c) { g+=$c["n_gradient__"]; v+=$c["n_estimator__"]-$c["n_gradient__"]; a+=$c["accepted__"]; cd+=($c["surrogate__"]==0) }
        else if ("n_estimator__" in c) { v+=$c["n_estimator__"]; a+=$c["accepted__"] }
        else if ("n_leapfrog__" in c) { g+=$c["n_leapfrog__"]; a+=$c["accept_stat__"] }
        else { g+=steps; v+=1; a+=$c["accept_stat__"] } }
      END {printf "%d %d %.3f %.3f\n", g, v, a/n, cd/n}' "$file")
  awk -v n="$name" -v e="$ess" -v s="$secs" -v c="$counts" \
    'BEGIN{split(c, k, " "); p=k[1]+k[2]; printf "%-24s %9.1f %10.2f %9.2f %10d %10d %12s %7s %9s\n", n, e, s, e/s, k[1], k[2], (p>0 ? sprintf("%.2f", 1000*e/p) : "-"), k[3], k[4]}'
}
for run in pmhmc pmnuts hnn_hmc_exact hnn_hmc_surrogate hnn_nuts_exact hnn_nuts_surr_mon_surr hnn_nuts_surr_mon_true; do
  row $run
done

echo
echo "posterior means: PM-NUTS against the exact HNN runs (z = difference / sqrt(MCSE_a^2 + MCSE_b^2)) and the surrogate ones"
for run in pmnuts hnn_hmc_exact hnn_nuts_exact hnn_hmc_surrogate hnn_nuts_surr_mon_surr hnn_nuts_surr_mon_true; do
  "$bin" summary --csv "$work/$run.csv" >"$work/$run.sum" 2>/dev/null
done
printf "%-12s %18s %18s %7s %18s %7s %10s %10s %10s\n" parameter "pmnuts" "hnn_hmc_exact" z "hnn_nuts_exact" z \
  hmc_surr nuts_surr nuts_true
awk -F, 'FNR==1 {f++; next} {gsub(/"/, "", $1)} $1 ~ /__$/ {next}
         f==1 {order[++n]=$1} {m[f, $1]=$2; s[f, $1]=$3}
         END {for (i=1;i<=n;i++) {k=order[i]
              z2=(m[2,k]-m[1,k])/sqrt(s[1,k]^2+s[2,k]^2); z3=(m[3,k]-m[1,k])/sqrt(s[1,k]^2+s[3,k]^2)
              printf "%-12s %9.4f (%6.4f) %9.4f (%6.4f) %7.2f %9.4f (%6.4f) %7.2f %10.4f %10.4f %10.4f\n", k,
                     m[1,k], s[1,k], m[2,k], s[2,k], z2, m[3,k], s[3,k], z3, m[4,k], m[5,k], m[6,k]}}' \
  "$work/pmnuts.sum" "$work/hnn_hmc_exact.sum" "$work/hnn_nuts_exact.sum" "$work/hnn_hmc_surrogate.sum" \
  "$work/hnn_nuts_surr_mon_surr.sum" "$work/hnn_nuts_surr_mon_true.sum"
