#!/usr/bin/env bash
# The one prepared check for a GPU machine (no internet; it has torch, pybind11,
# scikit-build-core, cmake, ninja and nvcc): build and install ember with CUDA, run the
# CUDA tests, then benchmark every family against torch (bench/gpu/<family>.py:
# interleaved rounds, medians, ratio torch/ember) and print the tables, also written to
# bench/results/gpu-<date>.md.
#
#   bash bench/gpu_check.sh build test    # first call: build (3-4 min), then the tests
#   bash bench/gpu_check.sh bench         # second call, same warm machine: benchmarks
#   bash bench/gpu_check.sh               # all three
#   bash bench/gpu_check.sh sanitize      # compute-sanitizer memcheck over $SANITIZE's test
#                                         # files (default: gemm attention); slow, Firecracker only
#
# One device call may run 10 minutes, so the stages split over two calls; each call stops
# starting new steps when BUDGET seconds (default 560) are nearly spent, and says what it
# left out. Per-file logs stay in $LOG. $OUT (when set; the device tool brings back at
# most 8 files from it) gets build.log, tests.log (each test file's log, appended as it
# ends, so a call cut short still brings back what finished) and the results table.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
LOG=/tmp/ember_gpu_check
mkdir -p "$LOG"
PY=${PYTHON:-python3}
stages=${*:-build test bench}
deadline=$((SECONDS + ${BUDGET:-560}))
left() { echo $((deadline - SECONDS)); }
# A step's timeout: its own cap, or what is left minus a margin, whichever is smaller.
cap() { local l=$(($(left) - 15)); echo $(($1 < l ? $1 : l)); }
has() { [[ " $stages " == *" $1 "* ]]; }
out() { [ -n "${OUT:-}" ] && cp "$@" "$OUT/"; }

nvidia-smi -L || true
"$PY" --version

if has build; then
  echo "== build (sm_90 only, to keep it short)"
  t0=$SECONDS
  if ! EMBER_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$PY" -m pip install \
    --no-build-isolation --no-deps -v -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 . \
    >"$LOG/build.log" 2>&1; then
    tail -60 "$LOG/build.log"
    echo "BUILD FAILED"
    out "$LOG/build.log"
    exit 1
  fi
  grep -E "warning|error" "$LOG/build.log" | grep -v -E "^\s*$|-Werror|Wno-" | head -20
  echo "build: $((SECONDS - t0)) s"
  out "$LOG/build.log"
fi

echo "== device"
"$PY" -c "import ember.cuda as c; print(c.is_available(), c.get_device_name())" || exit 1

test_rc=0
if has test; then
  echo "== tests (each file its own process: a CUDA fault stays in its file)"
  t0=$SECONDS
  # the basics first (a broken copy fails everything after it), then any file not listed
  first="tensor cuda memory_events gemm reduce index optim conv attention rnn qgemm amp streams"
  listed=$(for n in $first; do echo "tests/cuda/test_cuda_$n.py"; done | sed 's/_cuda_cuda/_cuda/')
  files=$(for f in $listed; do [ -f "$f" ] && echo "$f"; done
    ls tests/cuda/test_cuda*.py | grep -v -x -F "$listed")
  for f in $files; do
    name=$(basename "$f" .py)
    if [ "$(cap 150)" -lt 20 ]; then
      echo "$name: NOT RUN (out of time)"
      test_rc=1
      continue
    fi
    timeout "$(cap 150)" "$PY" -m pytest "$f" -q -m cuda -p no:cacheprovider -o addopts="" \
      --timeout=120 >"$LOG/pytest-$name.log" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && test_rc=1 # 5: nothing selected
    echo "$name: exit $rc, $((SECONDS - t0)) s, $(tail -1 "$LOG/pytest-$name.log")"
    [ -n "${OUT:-}" ] && { echo "=== $name (exit $rc)"; cat "$LOG/pytest-$name.log"; } >>"$OUT/tests.log"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && grep -E "^(FAILED|ERROR)" "$LOG/pytest-$name.log" | head -15
  done
  echo "tests: $((SECONDS - t0)) s, exit $test_rc"
fi

if has sanitize; then
  echo "== compute-sanitizer memcheck (out-of-bounds and misaligned accesses)"
  for n in ${SANITIZE:-gemm attention}; do
    f=tests/cuda/test_cuda_$n.py
    [ "$(cap 30)" -lt 15 ] && { echo "$n: NOT RUN (out of time)"; continue; }
    timeout "$(cap 240)" compute-sanitizer --tool memcheck --error-exitcode 9 "$PY" -m pytest \
      "$f" -q -x -m cuda -p no:cacheprovider -o addopts="" >"$LOG/sanitize-$n.log" 2>&1
    rc=$?
    echo "$n: exit $rc, $(grep -c "Invalid\|misaligned" "$LOG/sanitize-$n.log") reports"
    [ -n "${OUT:-}" ] && { echo "=== sanitize $n (exit $rc)"; cat "$LOG/sanitize-$n.log"; } >>"$OUT/tests.log"
  done
fi

if has bench; then
  # Real sizes only: --smoke is for machines without a GPU (tests/cuda/test_gpu_bench_smoke.py
  # runs every family that way on the CUDA host emulator before a GPU minute is spent).
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
  for family in elementwise reduce gemm attention conv optim rnn qgemm train; do
    [ -f "bench/gpu/$family.py" ] || continue
    if [ "$(cap 30)" -lt 15 ]; then
      echo "$family: NOT RUN (out of time)" | tee -a "$table"
      continue
    fi
    t0=$SECONDS
    limit=55
    [ "$family" = train ] && limit=100 # three model builds
    timeout "$(cap $limit)" "$PY" "bench/gpu/$family.py" --rounds 3 >"$LOG/bench-$family.txt" 2>&1
    rc=$?
    { cat "$LOG/bench-$family.txt"; echo; } >>"$table"
    out "$table"
    echo "$family: exit $rc, $((SECONDS - t0)) s"
  done
  echo "== table"
  grep -E "^\||^## |^Adam|NOT RUN" "$table"
fi
exit $test_rc
