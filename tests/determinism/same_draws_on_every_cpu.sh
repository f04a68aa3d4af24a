#!/usr/bin/env bash
# The CPU backend's draws do not depend on the CPU (README, "Reproducible").
#
#   same_draws_on_every_cpu.sh PMHMC [OTHER_PMHMC]
#
# Samples a small simulated GLMM with PM-HMC, PM-NUTS and exact HNN-HMC (on
# one weights file, trained once) under several code paths of the same
# machine, and requires every draws file to be byte-identical to the first
# run's:
#   - the default: glibc and OpenBLAS pick the best code for this CPU, two
#     OpenMP threads;
#   - glibc told the CPU has no AVX-512 (the code paths it picks for libm,
#     memcpy and the like change), OpenBLAS forced to its Haswell kernels,
#     one thread;
#   - glibc told the CPU has no AVX2, FMA or AVX-512 either, OpenBLAS forced
#     to its oldest (Prescott, SSE3) kernels, three threads;
#   - with OTHER_PMHMC, a second build of the program (scripts/test.sh passes
#     the sanitizer build, compiled for baseline x86-64 where the first is
#     -march=native): other instructions, other vector widths.
# GLIBC_TUNABLES only masks features the CPU has, and OPENBLAS_CORETYPE only
# acts on a DYNAMIC_ARCH OpenBLAS (Debian's is), so on a machine without
# AVX-512 the second run repeats the first: the check is as strong as the
# machine allows. Exit 0 when all agree, 1 (naming the file and the run) when
# not.
set -euo pipefail
pmhmc=${1:?usage: same_draws_on_every_cpu.sh PMHMC [OTHER_PMHMC]}
other=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$pmhmc" simulate --model glmm --T 60 --n 6 --p 3 --seed 3 --out sim >/dev/null
cat >base.ini <<'EOF'
[model]
name = glmm
data = sim/data.csv
N = 32
[sampler]
algorithm = hnn_hmc
warmup = 60
iterations = 40
step_size = 0.05
steps = 8
chains = 2
backend = cpu
seed = 11
[hnn]
pilot_warmup = 60
pilot_iterations = 60
collect_every = 2
hidden = 16,16
activation = tanh
epochs = 5
weights = net/net.safetensors
accept = exact
[output]
file = net/pilot.csv
refresh = 0
report = false
EOF
# The network is trained once, under the default code paths: training may
# differ in its last bits between OpenBLAS kernels (README); what must not is
# sampling with a given network.
"$pmhmc" pipeline base.ini --quiet >/dev/null

runs=(default no_avx512 baseline)
declare -A env_of=(
  [default]="OMP_NUM_THREADS=2"
  [no_avx512]="OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
  [baseline]="OMP_NUM_THREADS=3 OPENBLAS_CORETYPE=Prescott GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
)
declare -A bin_of=([default]=$pmhmc [no_avx512]=$pmhmc [baseline]=$pmhmc)
if [ -n "$other" ]; then
  runs+=(other_build)
  env_of[other_build]="OMP_NUM_THREADS=2"
  bin_of[other_build]=$other
fi

for run in "${runs[@]}"; do
  for alg in pmhmc pmnuts hnn_hmc; do
    # shellcheck disable=SC2086 # env_of holds several assignments
    env ${env_of[$run]} "${bin_of[$run]}" sample base.ini sampler.algorithm=$alg \
      output.file="$run/$alg.csv" --quiet >/dev/null
  done
done

# Everything but the lines naming the output file and the elapsed times.
comparable() { grep -v -e '^# *file = ' -e 'Elapsed Time' -e ' seconds (' "$1"; }
status=0
for run in "${runs[@]:1}"; do
  for f in pmhmc_1 pmhmc_2 pmnuts_1 pmnuts_2 hnn_hmc_1 hnn_hmc_2; do
    if ! cmp -s <(comparable "default/$f.csv") <(comparable "$run/$f.csv"); then
      echo "FAIL: $f.csv of run '$run' (${env_of[$run]}, ${bin_of[$run]}) differs from the default run's:" >&2
      diff <(comparable "default/$f.csv") <(comparable "$run/$f.csv") | head -4 >&2 || true
      status=1
    fi
  done
done
n_draws=$(grep -vc '^#' default/pmnuts_1.csv)
[ "$n_draws" -eq 41 ] || { echo "FAIL: expected a header and 40 draws, got $n_draws lines" >&2; status=1; }
[ $status -eq 0 ] && echo "same draws, byte for byte, in runs: ${runs[*]}"
exit $status
