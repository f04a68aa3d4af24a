#!/usr/bin/env bash
# PM-NUTS with the report's estimator against PM-NUTS with the laplace one
# (issue 14): the paper's GLMM (T = 500, n = 6, p = 8, data seed 1), prior
# N(0, PRIOR_VAR) on every component of theta, configs/glmm_nuts.ini (Stan's
# adaptation), 4 chains of WARMUP + ITERATIONS each, run one after the other:
#   fixed128:  model.proposal = fixed, N = 128 (the default before issue 14)
#   laplace16: model.proposal = laplace, N = 16
# and, when REF_PREFIX is given, bench/compare_means.sh's table against that
# reference (glmm_exact_posterior's chains; bench/glmm_reference_check.sh
# makes them). Per run: the worst ESS_bulk over the 11 well-identified
# parameters (all but log_lambda1/2), and over all 13, after relabelling
# (bench/relabel.sh); the slowest chain's sampling seconds; ESS/s of each;
# max R-hat over the 11; each chain's acceptance and end-of-warm-up noise.
# usage: bench/pmnuts_estimators.sh PMHMC_BINARY PRIOR_VAR WARMUP ITERATIONS OUT_DIR [REF_PREFIX]
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: bench/pmnuts_estimators.sh PMHMC_BINARY PRIOR_VAR WARMUP ITERATIONS OUT_DIR [REF_PREFIX]" >&2
  exit 2
fi
bin=$1 prior_var=$2 warmup=$3 iters=$4 out=$5 ref=${6:-}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$out" >/dev/null
common=(model.data="$out/data.csv" model.prior_var="$prior_var" sampler.chains=4 sampler.warmup="$warmup"
        sampler.iterations="$iters" output.refresh=0 output.report=false)
run() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s)
  "$bin" sample "$root/configs/glmm_nuts.ini" "${common[@]}" output.file="$out/$name.csv" "$@" --quiet \
    >"$out/$name.log" 2>&1
  t1=$(date +%s)
  echo "$name: $((t1 - t0)) s wall clock"
}
run fixed128 model.proposal=fixed model.N=128
run laplace16 model.proposal=laplace model.N=16
printf "%-10s %9s %9s %10s %8s %8s %8s\n" run worst_11 worst_13 sampling_s ess_s_11 ess_s_13 rhat_11
for name in fixed128 laplace16; do
  files=()
  for f in "$out/$name"_[0-9]*.csv; do
    files+=("$out/relabelled_$(basename "$f")")
    bash "$root/bench/relabel.sh" "$f" "${files[-1]}"
  done
  secs=$(grep -h "seconds (Sampling)" "$out/$name"_[0-9]*.csv | awk '{v=$2+0; if (v>m) m=v} END{print m}')
  "$bin" summary --csv "${files[@]}" 2>/dev/null | tr -d '"' |
    awk -F, -v name="$name" -v secs="$secs" '
      NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
      $1 ~ /__$/ || $1 ~ /^(lambda|w)[0-9]/ { next }
      { e = $c["ESS_bulk"] + 0; r = $c["R_hat"] + 0
        if (w13 == "" || e < w13) w13 = e
        if ($1 !~ /^log_lambda/) { if (w11 == "" || e < w11) w11 = e; if (r > r11) r11 = r } }
      END { printf "%-10s %9.0f %9.0f %10.1f %8.2f %8.2f %8.3f\n", name, w11, w13, secs, w11 / secs, w13 / secs, r11 }'
  grep -hE "^chain [0-9]+: acceptance|^sd of log phat" "$out/$name.log" | sed "s/^/  $name: /"
done
if [ -n "$ref" ]; then
  bash "$root/bench/compare_means.sh" "$bin" "$ref" fixed128="$out/fixed128" laplace16="$out/laplace16"
fi
