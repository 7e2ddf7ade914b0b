#!/usr/bin/env bash
# The one prepared check for a GPU machine (no internet; it has torch, pybind11,
# scikit-build-core, cmake, ninja and nvcc): build and install ember with CUDA,
# print the device, run the CUDA tests, then time a few large elementwise kernels
# against torch (interleaved rounds, medians) and print GB/s. About 3-4 minutes.
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

echo "== bandwidth (median of 5 interleaved rounds; GB/s counts bytes read + written)"
"$PY" - <<'PYEOF' 2>&1 | tee "$LOG/bench.txt"
import time

import ember._C_cuda as C

F32, BF16 = 6, 5
N = 1 << 28  # 256 Mi float32 = 1 GiB per tensor


def timeit(fn, reps=10):
    fn()
    C.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    C.synchronize()
    return (time.perf_counter() - t) / reps


a, b, out = C.empty([N], F32), C.empty([N], F32), C.empty([N], F32)
half = C.empty([N], BF16)
for t, v in ((a, 1.5), (b, -0.25), (out, 0.0)):
    C.fill(t, v)
mat = a.as_strided([N // 4096, 4096], [4096, 1], 0)
row = b.as_strided([4096], [1], 0)
mis_a = a.as_strided([N - 4], [1], 1)  # 4-byte offset: not 16-byte aligned
mis_b = b.as_strided([N - 4], [1], 1)
mis_o = out.as_strided([N - 4], [1], 1)
aT = a.as_strided([4096, N // 4096], [1, 4096], 0)  # a (N/4096, 4096) transposed
out2 = out.as_strided([4096, N // 4096], [N // 4096, 1], 0)

cases = [
    ("add f32 contiguous", lambda: C.binary("add", a, b, out), 12 * N, "add"),
    ("add f32 misaligned", lambda: C.binary("add", mis_a, mis_b, mis_o), 12 * N, "add"),
    ("add f32 row broadcast", lambda: C.binary("add", mat, row, out.as_strided(
        [N // 4096, 4096], [4096, 1], 0)), 8 * N, "bcast"),
    ("gelu f32", lambda: C.unary("gelu", a, out), 8 * N, "gelu"),
    ("copy f32 -> bf16", lambda: C.copy(a, half), 6 * N, "bf16"),
    ("copy f32 d2d (memcpy)", lambda: C.copy(a, out), 8 * N, "copy"),
    ("copy f32 transpose", lambda: C.copy(aT, out2), 8 * N, "transpose"),
]

try:
    import torch

    assert torch.cuda.is_available()
    ta = torch.full((N,), 1.5, device="cuda")
    tb = torch.full((N,), -0.25, device="cuda")
    to = torch.empty(N, device="cuda")
    th = torch.empty(N, device="cuda", dtype=torch.bfloat16)
    tm, tr = ta.view(N // 4096, 4096), tb[:4096]
    peers = {
        "add": lambda: torch.add(ta, tb, out=to),
        "bcast": lambda: torch.add(tm, tr, out=to.view(N // 4096, 4096)),
        "gelu": lambda: torch.nn.functional.gelu(ta),
        "bf16": lambda: th.copy_(ta),
        "copy": lambda: to.copy_(ta),
        "transpose": lambda: to.view(4096, N // 4096).copy_(tm.t()),
    }
    tsync = torch.cuda.synchronize
except Exception as e:  # torch missing or without CUDA: ours only
    print(f"(no torch peer: {e})")
    peers, tsync = {}, None


def timeit_peer(fn, reps=10):
    fn()
    tsync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    tsync()
    return (time.perf_counter() - t) / reps


print(f"{'case':26s} {'ours ms':>9s} {'ours GB/s':>10s} {'torch GB/s':>11s} {'ratio':>6s} {'spread':>7s}")
for name, fn, nbytes, peer in cases:
    ours, theirs = [], []
    for _ in range(5):
        ours.append(timeit(fn))
        if peer in peers:
            theirs.append(timeit_peer(peers[peer]))
    ours.sort()
    med = ours[2]
    spread = ours[-1] / ours[0]
    line = f"{name:26s} {med * 1e3:9.3f} {nbytes / med / 1e9:10.0f}"
    if theirs:
        theirs.sort()
        line += f" {nbytes / theirs[2] / 1e9:11.0f} {theirs[2] / med:6.2f}"
    else:
        line += f" {'-':>11s} {'-':>6s}"
    print(line + f" {spread:7.2f}")
print(f"allocated {C.memory_allocated() >> 20} MiB, reserved {C.memory_reserved() >> 20} MiB")
PYEOF
exit $test_rc
