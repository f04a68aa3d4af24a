#!/usr/bin/env bash
# Posterior means of several runs against a reference run: for every
# parameter of the reference (sampler columns and the derived lambda1,
# lambda2, w1 left out: lambda's mean is dominated by the log_lambda tail),
# the reference's mean (MCSE), then each run's mean and
# z = (mean - reference) / sqrt(MCSE^2 + MCSE_ref^2), and a last row with
# each run's worst |z| and largest R-hat (the reference's too). A run is a
# name and the prefix of its chain files (PREFIX_1.csv, PREFIX_2.csv, ...),
# summarized together by `pmhmc summary`. Where the draws have the GLMM's
# mixture columns, every draw is first written in the labelling mu1 <= mu2
# (bench/relabel.sh).
# usage: bench/compare_means.sh PMHMC_BINARY REF_PREFIX NAME=PREFIX...
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bench/compare_means.sh PMHMC_BINARY REF_PREFIX NAME=PREFIX..." >&2
  exit 2
fi
bin=$1 ref=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summarize() {
  local files=() f
  for f in "$1"_[0-9]*.csv; do
    [ -e "$f" ] || { echo "compare_means: no chain files $1_K.csv" >&2; exit 1; }
    files+=("$work/${2##*/}_$(basename "$f")")
    bash "$(dirname "$0")/relabel.sh" "$f" "${files[-1]}"
  done
  if ! "$bin" summary --csv "${files[@]}" >"$2.raw" 2>"$work/warnings"; then
    cat "$work/warnings" >&2
    exit 1
  fi
  tr -d '"' <"$2.raw" >"$2"
}
summarize "$ref" "$work/0.sum"
names=()
for run in "$@"; do
  names+=("${run%%=*}")
  summarize "${run#*=}" "$work/${#names[@]}.sum"
done
files=("$work"/0.sum)
for i in $(seq 1 ${#names[@]}); do files+=("$work/$i.sum"); done
awk -F, -v names="${names[*]}" '
  BEGIN { n_runs = split(names, run, " "); f = -1 }
  FNR == 1 { f++; for (i = 1; i <= NF; i++) col[$i] = i; next }
  $1 ~ /__$/ || $1 ~ /^(lambda|w)[0-9]/ { next }
  f == 0 { order[++n] = $1 }
  { seen[f, $1] = 1; m[f, $1] = $col["Mean"]; s[f, $1] = $col["MCSE"]; r[f, $1] = $col["R_hat"] }
  END {
    printf "%-12s %18s", "parameter", "reference"
    for (k = 1; k <= n_runs; k++) printf " %14s %6s", run[k], "z"
    printf "\n"
    for (i = 1; i <= n; i++) {
      p = order[i]
      if (r[0, p] > rhat[0]) rhat[0] = r[0, p]
      printf "%-12s %9.4f (%6.4f)", p, m[0, p], s[0, p]
      for (k = 1; k <= n_runs; k++) {
        if (!seen[k, p]) { printf " %14s %6s", "missing", "-"; continue }
        se = sqrt(s[0, p]^2 + s[k, p]^2)
        if (!(se > 0)) { printf " %14.4f %6s", m[k, p], "-"; continue }
        z = (m[k, p] - m[0, p]) / se
        if (z < 0 ? -z > worst[k] : z > worst[k]) worst[k] = z < 0 ? -z : z
        if (r[k, p] > rhat[k]) rhat[k] = r[k, p]
        printf " %14.4f %6.2f", m[k, p], z
      }
      printf "\n"
    }
    printf "%-12s %18s", "worst |z|", ""
    for (k = 1; k <= n_runs; k++) printf " %14s %6.2f", "", worst[k]
    printf "\n%-12s %18.3f", "max R-hat", rhat[0]
    for (k = 1; k <= n_runs; k++) printf " %14s %6.3f", "", rhat[k]
    printf "\n"
  }' "${files[@]}"
