"""GPU elementwise and copy kernels vs torch: bandwidth (GB/s counts bytes read + written) on
1 GiB float32 tensors, aligned and misaligned, broadcast, bf16 conversion and a transpose.
Each timed call is REPS launches and a device synchronisation; ember and torch alternate over
rounds (bench/_harness.py: medians, ratio torch/ember).

    python bench/gpu/elementwise.py [--rounds 5]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for _harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

F32, BF16 = 6, 5
REPS = 5


def _batched(fn: Callable[[], object], sync: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REPS):
            fn()
        sync()

    return run


def cases() -> list[Case]:
    import ember._C_cuda as C
    import torch

    N = smoke(1 << 28, 1 << 16)  # 256 Mi float32 = 1 GiB per tensor (a multiple of 4096)
    dev = peer_device()
    a, b, out = C.empty([N], F32), C.empty([N], F32), C.empty([N], F32)
    half = C.empty([N], BF16)
    for t, v in ((a, 1.5), (b, -0.25), (out, 0.0)):
        C.fill(t, v)
    mat = a.as_strided([N // 4096, 4096], [4096, 1], 0)
    row = b.as_strided([4096], [1], 0)
    mat_out = out.as_strided([N // 4096, 4096], [4096, 1], 0)
    mis_a, mis_b, mis_o = (t.as_strided([N - 4], [1], 1) for t in (a, b, out))  # 4-byte offset
    a_t = a.as_strided([4096, N // 4096], [1, 4096], 0)  # a (N/4096, 4096) transposed
    out_t = out.as_strided([4096, N // 4096], [N // 4096, 1], 0)

    ta = torch.full((N,), 1.5, device=dev)
    tb = torch.full((N,), -0.25, device=dev)
    to = torch.empty(N, device=dev)
    th = torch.empty(N, device=dev, dtype=torch.bfloat16)
    tm, tr = ta.view(N // 4096, 4096), tb[:4096]
    rows = [
        ("add f32", lambda: C.binary("add", a, b, out), lambda: torch.add(ta, tb, out=to), 12),
        ("add f32 misaligned", lambda: C.binary("add", mis_a, mis_b, mis_o),
         lambda: torch.add(ta[1:], tb[1:], out=to[1:]), 12),
        ("add f32 row broadcast", lambda: C.binary("add", mat, row, mat_out),
         lambda: torch.add(tm, tr, out=to.view(N // 4096, 4096)), 8),
        ("gelu f32", lambda: C.unary("gelu", a, out), lambda: torch.nn.functional.gelu(ta), 8),
        ("copy f32 -> bf16", lambda: C.copy(a, half), lambda: th.copy_(ta), 6),
        ("copy f32 (device bandwidth)", lambda: C.copy(a, out), lambda: to.copy_(ta), 8),
        ("copy f32 transpose", lambda: C.copy(a_t, out_t),
         lambda: to.view(4096, N // 4096).copy_(tm.t()), 8),
    ]  # fmt: skip
    return [
        Case(name, _batched(ours, C.synchronize), _batched(peer, peer_sync()),
             per_elem * N * REPS)
        for name, ours, peer, per_elem in rows
    ]  # fmt: skip


if __name__ == "__main__":
    main(
        "GPU elementwise kernels (float32, 1 GiB tensors)",
        "torch",
        cases,
        "torch CUDA",
        smoke_sizes=True,
    )
