#!/usr/bin/env bash
# The main job: simulate the source report's GLMM data (T = 500, n = 6, p = 8),
# sample it with PM-NUTS and the laplace estimator (configs/glmm_quick.ini),
# and print the posterior summary beside the true values. The sample command also writes the HTML
# report (output.report, on by default) beside the draws:
# out/paper/draws_quick.html.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target pmhmc_cli >/dev/null
pmhmc=$root/build/pmhmc
"$pmhmc" simulate --model glmm --T 500 --n 6 --p 8 --seed 1 --out "$root/out/paper"
"$pmhmc" sample "$root/configs/glmm_quick.ini" --truth "$root/out/paper/truth.csv"
