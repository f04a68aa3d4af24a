#!/usr/bin/env bash
# ctest arviz.from_cmdstan: samples a small simulated GLMM with the built
# pmhmc (2 chains x 300 draws) and checks with check_from_cmdstan.py that
# arviz.from_cmdstan reads the draws files with the right shapes, values and
# sampler statistics, and that arviz.summary agrees with `pmhmc summary`.
#
#   bash tests/arviz/from_cmdstan.sh PATH/TO/pmhmc
#
# ArviZ is optional (CI machines may lack it): without python3, numpy or an
# ArviZ 0.x, it prints the reason and exits 77, which ctest reports as
# skipped. PMHMC_PYTHON picks another interpreter.
set -euo pipefail
pmhmc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
py=${PMHMC_PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "SKIP: no '$py' on PATH, so ArviZ cannot be run"
  exit 77
fi
if ! why=$("$py" -c 'import numpy, arviz' 2>&1); then
  echo "SKIP: ArviZ is not importable by $(command -v "$py"): $(printf '%s\n' "$why" | tail -n 1)"
  echo "      (pip install --user \"arviz<1\" to run this test)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmhmc_arviz_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$pmhmc" simulate --model glmm --T 30 --n 4 --p 3 --seed 2 --out sim >/dev/null
cat >run.ini <<'INI'
[model]
name = glmm
data = sim/data.csv
N = 8
[sampler]
warmup = 100
iterations = 300
steps = 5
chains = 2
backend = cpu
[output]
file = out/draws.csv
refresh = 0
report = false
INI
"$pmhmc" sample run.ini --quiet >sample.log
# summary warns on stderr about these short chains' ESS; only the table matters.
"$pmhmc" summary out/draws_1.csv out/draws_2.csv --csv >summary.csv 2>/dev/null
"$py" "$here/check_from_cmdstan.py" --chains 2 --draws 300 --summary-csv summary.csv --other-layout other \
  out/draws_1.csv out/draws_2.csv
