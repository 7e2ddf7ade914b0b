#!/usr/bin/env bash
# The one prepared check for a GPU machine (no internet; it has torch, pybind11,
# scikit-build-core, cmake, ninja and nvcc): build and install ember with CUDA,
# print the device, run the CUDA tests, then benchmark every family against torch
# (bench/gpu/<family>.py: interleaved rounds, medians, ratio torch/ember) and print the
# tables, also written to bench/results/gpu-<date>.md and $OUT. About 8-10 minutes.
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

echo "== tests (each file its own process: a CUDA fault stays in its file)"
t0=$SECONDS
test_rc=0
for f in tests/cuda/test_cuda*.py; do
  name=$(basename "$f" .py)
  timeout 150 "$PY" -m pytest "$f" -q -m cuda -p no:cacheprovider -o addopts="" --timeout=120 \
    --junitxml="$LOG/junit-$name.xml" >"$LOG/pytest-$name.log" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && test_rc=1  # 5: nothing selected
  echo "$name: exit $rc, $(tail -1 "$LOG/pytest-$name.log")"
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
for family in elementwise reduce gemm qgemm attention conv optim rnn train; do
  [ -f "bench/gpu/$family.py" ] || continue
  t0=$SECONDS
  timeout 60 "$PY" "bench/gpu/$family.py" --rounds 3 >"$LOG/bench-$family.txt" 2>&1
  rc=$?
  { cat "$LOG/bench-$family.txt"; echo; } >>"$table"
  echo "$family: exit $rc, $((SECONDS - t0)) s"
done
cp "$table" "$LOG/"
echo "== table"
grep -E "^\||^## |^Adam" "$table"
exit $test_rc
