#!/usr/bin/env bash
# The one prepared check for a GPU machine (no internet; it has torch, pybind11,
# scikit-build-core, cmake, ninja and nvcc): build and install ember with CUDA,
# print the device, run the CUDA tests, then benchmark every family against torch
# (bench/gpu/<family>.py: interleaved rounds, medians, ratio torch/ember) and print the
# tables, also written to bench/results/gpu-<date>.md. About 8-10 minutes.
#
#   bash bench/gpu_check.sh
#
# Per-file logs stay in $LOG. $OUT (when set; the device tool brings back at most 8 files
# from it) gets build.log, tests.log (every test file's log, appended as each ends, so a
# run cut short still brings back what finished) and the results table as it grows.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
LOG=/tmp/ember_gpu_check
rm -rf "$LOG"
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
  [ -n "${OUT:-}" ] && cp "$LOG/build.log" "$OUT/"
  exit 1
fi
grep -E "warning|error" "$LOG/build.log" | grep -v -E "^\s*$|-Werror|Wno-" | head -20
echo "build: $((SECONDS - t0)) s"
[ -n "${OUT:-}" ] && cp "$LOG/build.log" "$OUT/"

echo "== device"
"$PY" -c "import ember.cuda as c; print(c.is_available(), c.get_device_name())" || exit 1

echo "== tests (each file its own process: a CUDA fault stays in its file)"
t0=$SECONDS
test_rc=0
for f in tests/cuda/test_cuda*.py; do
  name=$(basename "$f" .py)
  timeout 150 "$PY" -m pytest "$f" -q -m cuda -p no:cacheprovider -o addopts="" --timeout=120 \
    >"$LOG/pytest-$name.log" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && test_rc=1  # 5: nothing selected
  echo "$name: exit $rc, $(tail -1 "$LOG/pytest-$name.log")"
  [ -n "${OUT:-}" ] && { echo "=== $name (exit $rc)"; cat "$LOG/pytest-$name.log"; } >>"$OUT/tests.log"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && grep -E "^(FAILED|ERROR)" "$LOG/pytest-$name.log" | head -15
done
echo "tests: $((SECONDS - t0)) s, exit $test_rc"

echo "== benchmarks (each family vs torch, its own process: a CUDA fault stays in it)"
stamp=$(date -u +%Y-%m-%d)
table="bench/results/gpu-$stamp.md"
mkdir -p bench/results
{
  echo "# GPU benchmarks, $stamp"
  echo
  nvidia-smi -L 2>/dev/null
  echo
} >"$table"
for family in elementwise reduce gemm attention conv optim rnn train; do
  [ -f "bench/gpu/$family.py" ] || continue
  t0=$SECONDS
  timeout 60 "$PY" "bench/gpu/$family.py" --rounds 3 >"$LOG/bench-$family.txt" 2>&1
  rc=$?
  { cat "$LOG/bench-$family.txt"; echo; } >>"$table"
  [ -n "${OUT:-}" ] && cp "$table" "$OUT/"
  echo "$family: exit $rc, $((SECONDS - t0)) s"
done
echo "== table"
grep -E "^\||^## |^Adam" "$table"
exit $test_rc
