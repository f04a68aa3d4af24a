#!/usr/bin/env bash
# The noise of the likelihood estimate on the paper's GLMM (T = 500, n = 6,
# p = 8, data seed 1) for each model.proposal and N, at the true theta and at
# three harder points (the narrow component narrower, log_lambda1 = 3.5 and
# 8; the wide one wider, log_lambda2 = -2), with the exact log-likelihood
# from model.estimator = quadrature beside it (issue 14's table).
# Prints one row per (point, proposal, N): sd and mean of log phat over REPS
# fresh u, mean - exact, and seconds per estimate (pmhmc noise).
# usage: bench/estimator_noise.sh PMHMC_BINARY [REPS]
set -euo pipefail
bin=$1 reps=${2:-32}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$work" >/dev/null
printf '[model]\nname = glmm\ndata = data.csv\nprior_var = 100\n[sampler]\nbackend = cpu\n' >"$work/glmm.ini"
# theta in the draws' order: beta.1..8, mu1, mu2, log_lambda1, log_lambda2, logit_w1 (truth.csv's first 13)
truth=($(awk -F, 'NR > 1 && NR <= 14 {print $2}' "$work/truth.csv"))
point() { # index value: the truth with one coordinate changed (index -1: none)
  local t=("${truth[@]}")
  [ "$1" -ge 0 ] && t[$1]=$2
  (IFS=,; echo "${t[*]}")
}
value() { awk -F, -v k="$1" '$1 == k {print $2}'; }
printf "%-18s %-8s %5s %10s %14s %12s %12s\n" point proposal N sd mean mean-exact s/estimate
for p in "truth -1 0" "log_lambda1=3.5 10 3.5" "log_lambda1=8 10 8" "log_lambda2=-2 11 -2"; do
  set -- $p
  theta=$(point "$2" "$3")
  exact=$("$bin" noise "$work/glmm.ini" model.estimator=quadrature model.N=64 --theta "$theta" --reps 2 | value mean_log_phat)
  for proposal in fixed prior laplace; do
    for N in 8 16 128; do
      out=$("$bin" noise "$work/glmm.ini" model.proposal="$proposal" model.N="$N" --theta "$theta" --reps "$reps")
      mean=$(value mean_log_phat <<<"$out")
      printf "%-18s %-8s %5s %10.3g %14.6f %12.3g %12.3g\n" "$1" "$proposal" "$N" "$(value sd_log_phat <<<"$out")" \
        "$mean" "$(awk -v a="$mean" -v b="$exact" 'BEGIN{print a - b}')" "$(value seconds_per_estimate <<<"$out")"
    done
  done
  echo "$1: exact log-likelihood (quadrature, 64 nodes) $exact"
done
