#!/usr/bin/env bash
# Runs every statistical test (draws or estimates checked against an exact
# answer) on other random streams: PMHMC_TEST_SEED = 1..K (CI runs 0), each
# test and offset in its own process, as many at once as there are cores.
# Prints, per test, how many offsets passed and which failed; exits 1 when
# any failed. Not part of CI (minutes per offset); the record of the last
# sweep is in tests/README.md.
#
#   bash tests/seed_sweep.sh K [BUILD_DIR]     (BUILD_DIR: build)
#   SWEEP_FILTER='HnnNuts.*' bash tests/seed_sweep.sh 5     (a subset)
set -euo pipefail
K=${1:?usage: seed_sweep.sh K [BUILD_DIR]}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build}
bin=$build/tests/pmhmc_tests
[ -x "$bin" ] || { echo "seed_sweep: no test binary at $bin (build first)" >&2; exit 2; }

# The statistical tests; each seeds its streams with stream_seed()
# (tests/test_support.h).
filter=${SWEEP_FILTER:-'Proposals.PhatIsUnbiased*:Sampler.PmnutsWithLaplace*:CliNoise.Prior*:CliNoise.Auto*:Sampler.*Quadrature*:Sampler.*Recovers*:*NutsSampling.*:Adaptation.*:HnnHmc.ExactMode*:HnnHmc.SurrogateMode*:HnnHmcCli.Pipeline*:HnnNuts.ExactMode*:HnnNuts.SurrogateMode*:HnnNuts.APoor*:HnnNuts.AWell*:GaussianModel.Pmhmc*:CudaSampler.Float*:*Estimator.Converges*:NormalTransform.Moments*:RunChees.Gaussians*:RunChees.NormalRe*:RhatNested.ManyShortChains*'}
mapfile -t tests < <("$bin" --gtest_filter="$filter" --gtest_list_tests |
  awk '/^[^ ]/ { suite = $1 } /^  / { print suite $1 }')
[ ${#tests[@]} -gt 0 ] || { echo "seed_sweep: no test matches $filter" >&2; exit 2; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export bin logs
one() { # test offset
  local log="$logs/$(echo "$1" | tr '/' '_').$2"
  local rc=0
  PMHMC_TEST_SEED=$2 "$bin" --gtest_filter="$1" >"$log" 2>&1 || rc=$?
  if grep -q '^\[  SKIPPED \]' "$log"; then echo "$1 $2 skip"
  elif [ $rc -eq 0 ]; then echo "$1 $2 pass"
  else echo "$1 $2 FAIL"; fi
}
export -f one
start=$(date +%s)
results=$(for t in "${tests[@]}"; do for k in $(seq 1 "$K"); do echo "$t $k"; done; done |
  xargs -P "$(nproc)" -n 2 bash -c 'one "$0" "$1"')

status=0
printf '%-78s %s\n' "test" "offsets passed (of $K)"
for t in "${tests[@]}"; do
  pass=$(grep -c "^$t [0-9]* pass$" <<<"$results" || true)
  skip=$(grep -c "^$t [0-9]* skip$" <<<"$results" || true)
  failed=$(grep "^$t [0-9]* FAIL$" <<<"$results" | awk '{ print $2 }' | sort -n | tr '\n' ' ' || true)
  if [ "$skip" -eq "$K" ]; then
    printf '%-78s skipped: %s\n' "$t" "$(grep -m1 -o 'no usable GPU.*' "$logs/$(echo "$t" | tr '/' '_').1" || echo '?')"
    continue
  fi
  printf '%-78s %d%s\n' "$t" "$pass" "${failed:+   failed at: $failed}"
  [ -z "$failed" ] || status=1
done
echo "($(( $(date +%s) - start )) s on $(nproc) cores)"
exit $status
