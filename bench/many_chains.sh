#!/usr/bin/env bash
# Many short chains against a few long ones (issue 15) on the paper's GLMM
# (T = 500, n = 6, p = 8, data seed 1), prior N(0, 4) on every component of
# theta, the laplace estimator at N = 16, run one after the other:
#   pmnuts4:   PM-NUTS, 4 chains of 500 warm-up + 1000 draws (configs/glmm_nuts.ini)
#   pmnutsK:   PM-NUTS, K chains of W warm-up + I draws
#   cheesK:    ChEES-HMC, the same K chains of W + I, adapted across chains
# The K-chain runs start in 8 superchains (sampler.superchains = 8) for
# nested R-hat, dispersed by sampler.init_jitter = 1 (ChEES's metric is the
# spread across chains). Per run: wall-clock seconds of the whole run (warm-up
# included: with more chains than cores the chains share them, so a chain's
# own sampling time says nothing of the run's cost), the worst ESS_bulk over
# the 11 well-identified parameters (all but log_lambda1/2) after
# relabelling (bench/relabel.sh), that per wall-clock second, the largest
# R_hat and nR_hat over the 11, and the gradient evaluations per draw.
# usage: bench/many_chains.sh PMHMC_BINARY K W I OUT_DIR
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: bench/many_chains.sh PMHMC_BINARY K W I OUT_DIR" >&2
  exit 2
fi
bin=$1 K=$2 W=$3 I=$4 out=$5
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$out" >/dev/null
common=(model.data="$out/data.csv" model.prior_var=4 model.proposal=laplace model.N=16 output.refresh=0
        output.report=false)
declare -A wall
run() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$bin" sample "$root/configs/glmm_nuts.ini" "${common[@]}" output.file="$out/$name.csv" "$@" --quiet \
    >"$out/$name.log" 2>&1
  t1=$(date +%s.%N)
  wall[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
}
run pmnuts4 sampler.chains=4 sampler.warmup=500 sampler.iterations=1000
many=(sampler.chains="$K" sampler.superchains=8 sampler.init_jitter=1 sampler.warmup="$W" sampler.iterations="$I")
run "pmnuts$K" "${many[@]}"
run "chees$K" sampler.algorithm=chees "${many[@]}"
printf "%-10s %7s %8s %9s %8s %8s %10s\n" run chains wall_s worst_11 ess_s_11 rhat_11 nrhat_11
for name in pmnuts4 "pmnuts$K" "chees$K"; do
  files=()
  n=$(ls "$out/$name"_[0-9]*.csv | wc -l)
  for k in $(seq 1 "$n"); do
    files+=("$out/relabelled_${name}_$k.csv")
    bash "$root/bench/relabel.sh" "$out/${name}_$k.csv" "${files[-1]}"
  done
  super=()
  [ "$n" -ge 16 ] && super=(--superchains 8)
  "$bin" summary --csv "${super[@]}" "${files[@]}" 2>/dev/null | tr -d '"' |
    awk -F, -v name="$name" -v secs="${wall[$name]}" -v n="$n" '
      NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; nested = c["nR_hat"] + 0; next }
      $1 == "n_leapfrog__" { leap = $c["Mean"] }
      $1 ~ /__$/ || $1 ~ /^(lambda|w)[0-9]/ || $1 ~ /^log_lambda/ { next }
      { e = $c["ESS_bulk"] + 0; r = $c["R_hat"] + 0; q = nested ? $nested + 0 : 0
        if (w == "" || e < w) w = e; if (r > rh) rh = r; if (q > nr) nr = q }
      END { nrs = "-"; if (nr > 0) nrs = sprintf("%.3f", nr)
            printf "%-10s %7d %8.1f %9.0f %8.2f %8.3f %10s   (mean n_leapfrog %s)\n", name, n, secs, w, w / secs, rh,
                   nrs, leap }'
done
