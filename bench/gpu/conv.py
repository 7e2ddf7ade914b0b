"""conv2d, pooling and batch norm on CUDA: ember's kernels vs torch (cuDNN) on ResNet-ish
layers, NCHW: float32 (ember's SIMT implicit GEMM; TF32 off so both do fp32 arithmetic) and
bfloat16 (ember's tensor-core implicit GEMM; cuDNN bf16, channels-first). Interleaved rounds,
medians, CUDA synchronised after every call; the ratio is torch / ember (> 1: ember is
faster). GFLOP/s count 2 N K C/groups kh kw oh ow per convolution (x2 for the backward:
grad input and grad weight; the float32 backward also sums grad bias, the bfloat16 one
does not, on both sides).

    python bench/gpu/conv.py [--rounds 5] [--only substring] [--json out.json]

Importing this module needs no GPU (and runs nothing); make_cases needs one, and torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: the shared harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

# name, (n, c, h, w), k, kernel, stride, padding, groups
SHAPES = [
    ("ResNet stem N32 C3 224 -> 64, 7x7 s2 p3", (32, 3, 224, 224), 64, 7, 2, 3, 1),
    ("N32 C64 56 -> 64, 3x3 p1", (32, 64, 56, 56), 64, 3, 1, 1, 1),
    ("N32 C64 56 -> 256, 1x1", (32, 64, 56, 56), 256, 1, 1, 0, 1),
    ("N32 C128 28 -> 128, 3x3 p1", (32, 128, 28, 28), 128, 3, 1, 1, 1),
    ("N32 C256 14 -> 256, 3x3 p1", (32, 256, 14, 14), 256, 3, 1, 1, 1),
    ("N32 C128 56 -> 128, 3x3 s2 p1", (32, 128, 56, 56), 128, 3, 2, 1, 1),
    ("N32 C512 7 -> 512, 3x3 p1", (32, 512, 7, 7), 512, 3, 1, 1, 1),
    ("N32 C256 28 depthwise 3x3 p1", (32, 256, 28, 28), 256, 3, 1, 1, 256),
]
SMOKE_SHAPES = [  # the same kinds, tiny
    ("stem N2 C3 32 -> 8, 7x7 s2 p3", (2, 3, 32, 32), 8, 7, 2, 3, 1),
    ("N2 C8 12 -> 16, 3x3 p1", (2, 8, 12, 12), 16, 3, 1, 1, 1),
    ("N2 C8 12 -> 16, 1x1", (2, 8, 12, 12), 16, 1, 1, 0, 1),
    ("N2 C8 12 -> 8, 3x3 s2 p1", (2, 8, 12, 12), 8, 3, 2, 1, 1),
    ("N2 C16 8 depthwise 3x3 p1", (2, 16, 8, 8), 16, 3, 1, 1, 16),
]
BF16, F32 = 5, 6
DTYPES = [("f32", F32), ("bf16", BF16)]


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def make_cases(only: str | None = None) -> list[Case]:
    import ember._C as _C
    import ember._C_cuda as C
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    rng = np.random.default_rng(0)
    dev, sync = peer_device(), peer_sync()

    def up(a: np.ndarray, code: int = F32):
        d = C.empty(list(a.shape), code, 0)
        C.copy(_C.TensorImpl.from_buffer(np.ascontiguousarray(a)), d)  # converts to code
        return d

    def timed(fn, sync):
        def call():
            fn()
            sync()

        return call

    cases = []
    for (name, (n, c, h, w), k, ks, s, p, g), (dname, code) in (
        (shape, dt) for dt in DTYPES for shape in smoke(SHAPES, SMOKE_SHAPES)
    ):
        name = f"{name} {dname}"
        if only and only not in name:
            continue
        oh, ow = _out(h, ks, s, p), _out(w, ks, s, p)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        wt = (rng.standard_normal((k, c // g, ks, ks)) * 0.1).astype(np.float32)
        b = rng.standard_normal(k).astype(np.float32)
        gy = rng.standard_normal((n, k, oh, ow)).astype(np.float32)
        dx, dw, db, dgy = (up(a, code) for a in (x, wt, b, gy))
        dy, dgx, dgw = (C.empty(list(t), code, 0) for t in ((n, k, oh, ow), x.shape, wt.shape))
        dgb = C.empty([k], F32, 0)
        tdt = torch.bfloat16 if code == BF16 else torch.float32
        tx, tw, tb, tgy = (torch.from_numpy(a).to(dev).to(tdt) for a in (x, wt, b, gy))
        geo = ((s, s), (p, p), (1, 1), g)
        flops = 2.0 * n * k * (c // g) * ks * ks * oh * ow
        with_bias = code == F32  # ember's grad bias sums float32 (bf16 is cast up first)

        def ours_fwd(dx=dx, dw=dw, db=db, dy=dy, geo=geo):
            C.conv2d_forward(dx, dw, db, dy, *geo)

        def peer_fwd(tx=tx, tw=tw, tb=tb, s=s, p=p, g=g):
            torch.nn.functional.conv2d(tx, tw, tb, s, p, 1, g)

        def ours_bwd(dgy=dgy, dw=dw, dx=dx, dgx=dgx, dgw=dgw, dgb=dgb, geo=geo, bias=with_bias):
            C.conv2d_backward_input(dgy, dw, dgx, *geo)
            C.conv2d_backward_weight(dgy, dx, dgw, *geo)
            if bias:
                C.conv2d_backward_bias(dgy, dgb)

        def peer_bwd(tgy=tgy, tx=tx, tw=tw, k=k, s=s, p=p, g=g, bias=with_bias):
            torch.ops.aten.convolution_backward(
                tgy, tx, tw, [k], [s, s], [p, p], [1, 1], False, [0, 0], g, [True, True, bias]
            )

        cases.append(
            Case(
                f"{name} fwd",
                timed(ours_fwd, C.synchronize),
                timed(peer_fwd, sync),
                flops,
                "GFLOP/s",
            )
        )
        cases.append(
            Case(
                f"{name} bwd",
                timed(ours_bwd, C.synchronize),
                timed(peer_bwd, sync),
                2 * flops,
                "GFLOP/s",
            )
        )

    if not only or "pool" in only or "batch" in only:
        n, c, hw = smoke((32, 64, 112), (2, 8, 16))
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        dx, tx = up(x), torch.from_numpy(x).to(dev)
        dy, idx = C.empty([n, c, hw // 2, hw // 2], F32, 0), C.empty([n, c, hw // 2, hw // 2], 3, 0)
        cases.append(
            Case(
                f"max_pool2d 3x3 s2 p1 N{n} C{c} {hw}",
                timed(
                    lambda: C.max_pool2d(dx, dy, idx, (3, 3), (2, 2), (1, 1), (1, 1), False),
                    C.synchronize,
                ),
                timed(
                    lambda: torch.nn.functional.max_pool2d(tx, 3, 2, 1, return_indices=True),
                    sync,
                ),
                x.nbytes * 1.25,
                "GB/s",
            )
        )
        wv, bv = up(np.ones(c, np.float32)), up(np.zeros(c, np.float32))
        rm, rv = up(np.zeros(c, np.float32)), up(np.ones(c, np.float32))
        out, sm, si = C.empty(list(x.shape), F32, 0), C.empty([c], F32, 0), C.empty([c], F32, 0)
        tw, tbb = torch.ones(c, device=dev), torch.zeros(c, device=dev)
        trm, trv = torch.zeros(c, device=dev), torch.ones(c, device=dev)
        cases.append(
            Case(
                f"batch_norm train fwd N{n} C{c} {hw}",
                timed(
                    lambda: C.batch_norm_forward(dx, wv, bv, rm, rv, out, sm, si, True, 0.1, 1e-5),
                    C.synchronize,
                ),
                timed(
                    lambda: torch.nn.functional.batch_norm(tx, trm, trv, tw, tbb, True, 0.1, 1e-5),
                    sync,
                ),
                x.nbytes * 4,
                "GB/s",
            )
        )  # stats pass (2 reads in ember's chunks), normalise r + w
    return cases


if __name__ == "__main__":
    import torch

    main(
        "Convolution on CUDA (float32 and bfloat16, NCHW)",
        "torch",
        make_cases,
        f"torch {torch.__version__} (cuDNN, TF32 off; bf16 channels-first)",
        smoke_sizes=True,
    )
