"""GPU elementwise and copy kernels vs torch: bandwidth (GB/s counts bytes read + written) on
1 GiB float32 tensors, aligned and misaligned, broadcast, bf16 conversion and a transpose."""

from __future__ import annotations

from _timing import GpuCase

F32, BF16 = 6, 5
N = 1 << 28  # 256 Mi float32 = 1 GiB per tensor


def cases() -> list[GpuCase]:
    import ember._C_cuda as C
    import torch

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

    ta = torch.full((N,), 1.5, device="cuda")
    tb = torch.full((N,), -0.25, device="cuda")
    to = torch.empty(N, device="cuda")
    th = torch.empty(N, device="cuda", dtype=torch.bfloat16)
    tm, tr = ta.view(N // 4096, 4096), tb[:4096]
    return [
        GpuCase(
            "elementwise",
            "add f32",
            lambda: C.binary("add", a, b, out),
            lambda: torch.add(ta, tb, out=to),
            12 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "add f32 misaligned",
            lambda: C.binary("add", mis_a, mis_b, mis_o),
            lambda: torch.add(ta[1:], tb[1:], out=to[1:]),
            12 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "add f32 row broadcast",
            lambda: C.binary("add", mat, row, mat_out),
            lambda: torch.add(tm, tr, out=to.view(N // 4096, 4096)),
            8 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "gelu f32",
            lambda: C.unary("gelu", a, out),
            lambda: torch.nn.functional.gelu(ta),
            8 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "copy f32 -> bf16",
            lambda: C.copy(a, half),
            lambda: th.copy_(ta),
            6 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "copy f32 (device bandwidth)",
            lambda: C.copy(a, out),
            lambda: to.copy_(ta),
            8 * N,
            "GB/s",
        ),
        GpuCase(
            "elementwise",
            "copy f32 transpose",
            lambda: C.copy(a_t, out_t),
            lambda: to.view(4096, N // 4096).copy_(tm.t()),
            8 * N,
            "GB/s",
        ),
    ]
