#!/usr/bin/env bash
# The one prepared check for a GPU machine (no internet; it has torch, pybind11,
# scikit-build-core, cmake, ninja and nvcc): build and install ember with CUDA,
# print the device, run the CUDA tests, then benchmark every family against torch
# (bench/gpu/run.py: interleaved rounds, medians) and print one table, also written to
# bench/results/gpu-<date>.md and $OUT. About 6-8 minutes.
#
#   bash bench/gpu_check.sh            # logs also go to $OUT (default /tmp/ember_gpu_check)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
LOG=${OUT:-/tmp/ember_gpu_check}
mkdir -p "$LOG"
PY=${PYTHON:-python3}

nvidia-smi -L || true
"$PY" --version

echo "== build (sm_90 only, to keep it short)"
t0=$SECONDS
if ! EMBER_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$PY" -m pip install --no-build-isolation \
  --no-deps -v -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 . >"$LOG/build.log" 2>&1; then
  tail -60 "$LOG/build.log"
  echo "BUILD FAILED"
  exit 1
fi
grep -E "warning|error" "$LOG/build.log" | grep -v -E "^\s*$|-Werror|Wno-" | head -20
echo "build: $((SECONDS - t0)) s"

echo "== device"
"$PY" -c "import ember.cuda as c; print(c.is_available(), c.get_device_name())" || exit 1

echo "== tests"
t0=$SECONDS
"$PY" -m pytest tests/cuda -q -m cuda -p no:cacheprovider -o addopts="" --timeout=240 \
  --junitxml="$LOG/junit.xml" 2>&1 | tee "$LOG/pytest.log" | tail -40
test_rc=${PIPESTATUS[0]}
echo "tests: $((SECONDS - t0)) s, exit $test_rc"

echo "== benchmarks (every family vs torch; bench/gpu/run.py)"
stamp=$(date -u +%Y-%m-%d)
mkdir -p bench/results
timeout 480 "$PY" bench/gpu/run.py --out "bench/results/gpu-$stamp.md" 2>&1 | tee "$LOG/bench.txt" |
  grep -v "^|" || true
cp "bench/results/gpu-$stamp.md" "$LOG/" 2>/dev/null
echo "== table"
cat "bench/results/gpu-$stamp.md" 2>/dev/null || echo "(no table written)"
exit $test_rc
