#!/usr/bin/env bash
# What sd of log phat PM-NUTS samples best at: the default of
# model.noise_target (model.N = auto). The paper's GLMM (T = 500, n = 6,
# p = 8, data seed 1) under configs/glmm_quick.ini (laplace, N(0, 4) prior,
# one chain) with N = 2, 4, ..., 64 for the whole run, for each seed in
# SEEDS: the sd of log phat at the end of warm-up, the worst ESS_bulk over
# the 13 parameters, the sampling seconds and their ratio. The N with the
# most ESS per second, and the sd it ran at, say what target to choose.
# usage: bench/noise_target.sh PMHMC_BINARY WARMUP ITERATIONS "SEEDS"
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: bench/noise_target.sh PMHMC_BINARY WARMUP ITERATIONS \"SEEDS\"" >&2
  exit 2
fi
bin=$1 warmup=$2 iters=$3 seeds=$4
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$work" >/dev/null
printf "%5s %4s %8s %9s %10s %8s %6s\n" seed N sd_end worst_ess sampling_s ess_per_s R_hat
for seed in $seeds; do
  for n in 2 4 8 16 32 64; do
    out=$work/s${seed}_n$n.csv
    "$bin" sample "$root/configs/glmm_quick.ini" model.data="$work/data.csv" model.N="$n" sampler.seed="$seed" \
      sampler.warmup="$warmup" sampler.iterations="$iters" output.file="$out" output.refresh=0 \
      output.report=false --quiet >"$work/log" 2>&1
    sd=$(grep -o "sd = [0-9.e+-]*" "$out" | awk '{print $3}')
    secs=$(grep -h "seconds (Sampling)" "$out" | awk '{print $2}')
    "$bin" summary --csv "$out" 2>/dev/null | tr -d '"' |
      awk -F, -v seed="$seed" -v n="$n" -v sd="$sd" -v secs="$secs" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 ~ /__$/ || $1 ~ /^(lambda|w)[0-9]/ { next }
        { e = $c["ESS_bulk"] + 0; r = $c["R_hat"] + 0
          if (w == "" || e < w) w = e; if (r > rmax) rmax = r }
        END { printf "%5s %4s %8.3g %9.0f %10.1f %8.1f %6.3f\n", seed, n, sd, w, secs, w / secs, rmax }'
  done
done
