"""CUDA row families against torch on one GPU: reductions (rows, columns, everything),
argmax, softmax forward / backward, layer norm and RMS norm forward / backward (float32 and
bfloat16) and the fused softmax cross-entropy (ours writes the loss and dlogits in one
kernel; torch's forward + backward through autograd). Kernels are called through
ember._C_cuda; each timed call queues 10 launches and then synchronizes, and the two sides
alternate over rounds (bench/_harness.py: medians, ratio torch/ember).

    OMP_WAIT_POLICY=PASSIVE python bench/gpu/reduce.py [--rounds 5] [--only softmax]

Imports without a GPU; cases() needs one (and torch with CUDA).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for _harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

REPS = 10  # launches per timed call, then one synchronize
F32, BF16, I64 = 6, 5, 3


def _batched(fn: Callable[[], object], sync: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REPS):
            fn()
        sync()

    return run


def cases(only: str | None = None) -> list[Case]:
    """The benchmark cases (needs a CUDA GPU and torch with CUDA)."""
    import ember._C as _C
    import ember._C_cuda as C
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    dev, sync = peer_device(), peer_sync()

    def up(a: np.ndarray, code: int = F32):
        d = C.empty(list(a.shape), code)
        C.copy(_C.TensorImpl.from_buffer(np.ascontiguousarray(a)), d)
        return d

    def new(shape, code: int = F32):
        return C.empty(list(shape), code)

    def tt(a: np.ndarray, dtype=torch.float32):
        return torch.from_numpy(a).to(dev).to(dtype)

    out: list[Case] = []

    def add(name: str, ours: Callable, peer: Callable, nbytes: float) -> None:
        if only and only not in name:
            return
        out.append(
            Case(
                name,
                _batched(ours, C.synchronize),
                _batched(peer, sync),
                nbytes * REPS,
            )
        )

    R, N = smoke((4096, 8192), (64, 256))
    RN = f"{R}x{N}"
    x = rng.standard_normal((R, N), dtype=np.float32)
    ex, tx = up(x), tt(x)
    rows_out, cols_out = new([R]), new([N])
    add(
        f"sum f32 rows {RN}",
        lambda: C.reduce("sum", ex, rows_out, R, N, 1),
        lambda: torch.sum(tx, 1),
        4 * R * N,
    )
    add(
        f"sum f32 cols {RN}",
        lambda: C.reduce("sum", ex, cols_out, 1, R, N),
        lambda: torch.sum(tx, 0),
        4 * R * N,
    )
    one = new([1])
    add(
        f"sum f32 all {R * N / 2**20:g}M",
        lambda: C.reduce("sum", ex, one, 1, R * N, 1),
        lambda: torch.sum(tx),
        4 * R * N,
    )
    idx = new([R], I64)
    add(
        f"argmax f32 rows {RN}",
        lambda: C.reduce_arg("max", ex, rows_out, idx, R, N, 1),
        lambda: torch.max(tx, 1),
        4 * R * N,
    )

    ey = new([R, N])
    ty = torch.softmax(tx, 1)
    eg, tg = up(x[::-1].copy()), tt(x[::-1].copy())
    egi = new([R, N])
    add(
        f"softmax f32 {RN}",
        lambda: C.softmax(ex, ey, False),
        lambda: torch.softmax(tx, 1),
        8 * R * N,
    )
    C.softmax(ex, ey, False)
    add(
        f"softmax backward f32 {RN}",
        lambda: C.softmax_backward(ey, eg, egi, False),
        lambda: torch._softmax_backward_data(tg, ty, 1, torch.float32),
        12 * R * N,
    )

    w = (1 + 0.1 * rng.standard_normal(N)).astype(np.float32)
    b = (0.1 * rng.standard_normal(N)).astype(np.float32)
    ew, eb, tw, tb = up(w), up(b), tt(w), tt(b)
    mean, rstd = new([R]), new([R])
    add(
        f"layer_norm f32 {RN}",
        lambda: C.layer_norm_forward(ex, N, ew, eb, ey, mean, rstd, 1e-5),
        lambda: F.layer_norm(tx, (N,), tw, tb, 1e-5),
        8 * R * N,
    )
    exh, txh, eyh = up(x, BF16), tt(x, torch.bfloat16), new([R, N], BF16)
    add(
        f"layer_norm bf16 {RN}",
        lambda: C.layer_norm_forward(exh, N, ew, eb, eyh, mean, rstd, 1e-5),
        lambda: F.layer_norm(txh, (N,), tw.bfloat16(), tb.bfloat16(), 1e-5),
        4 * R * N,
    )
    add(
        f"rms_norm f32 {RN}",
        lambda: C.rms_norm_forward(ex, N, ew, ey, rstd, 1e-5),
        lambda: F.rms_norm(tx, (N,), tw, 1e-5),
        8 * R * N,
    )
    C.layer_norm_forward(ex, N, ew, eb, ey, mean, rstd, 1e-5)
    _, tmean, trstd = torch.ops.aten.native_layer_norm(tx, [N], tw, tb, 1e-5)
    gw, gb = new([N]), new([N])
    add(
        f"layer_norm backward f32 {RN}",
        lambda: C.layer_norm_backward(eg, ex, N, ew, mean, rstd, egi, gw, gb),
        lambda: torch.ops.aten.native_layer_norm_backward(
            tg, tx, [N], tmean, trstd, tw, tb, [True, True, True]
        ),
        12 * R * N,
    )

    Nc, V = smoke((4096, 50257), (32, 1000))
    logits = rng.standard_normal((Nc, V), dtype=np.float32)
    target = rng.integers(0, V, Nc)
    el, et = up(logits), up(target, I64)
    losses, dlogits = new([Nc]), new([Nc, V])
    tl = tt(logits).requires_grad_()
    ttarget = torch.from_numpy(target).to(dev)

    def torch_ce() -> None:  # loss and dlogits, without accumulating into .grad
        torch.autograd.grad(F.cross_entropy(tl, ttarget), tl)

    add(
        f"cross_entropy fwd+dlogits f32 {Nc}x{V}",
        lambda: C.cross_entropy_forward(el, et, losses, dlogits, -100, 0.0),
        torch_ce,
        8 * Nc * V,
    )
    return out


if __name__ == "__main__":
    main(
        "CUDA row families (reduce, softmax, norms, cross-entropy)",
        "torch",
        cases,
        smoke_sizes=True,
    )
