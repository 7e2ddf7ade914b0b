"""CUDA flash attention against torch's scaled_dot_product_attention (FlashAttention /
memory-efficient backends) on one GPU: forward, and forward + backward, bfloat16, float16
and float32, causal and not, with grouped-query attention. Ours is called through
ember._C_cuda.attention_forward / attention_backward (16-bit operands: both passes on the
tensor cores, 16-bit gradients, as the Python op runs them on CUDA); torch's backward runs
through autograd. Each timed call queues REPS iterations and then synchronizes; the two sides
alternate over rounds (bench/_harness.py: medians, ratio torch/ember). Throughput counts
the two matmuls of the forward (4 B Hq Tq Tk D flops, halved under causal masking) and 2.5x
that for the backward.

    OMP_WAIT_POLICY=PASSIVE python bench/gpu/attention.py [--rounds 5] [--only bwd]

Imports without a GPU; cases() needs one (and torch with CUDA).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for _harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

REPS = 3  # iterations per timed call, then one synchronize
F16, BF16, F32 = 4, 5, 6
TORCH_DTYPE = {F16: "float16", BF16: "bfloat16", F32: "float32"}

# name, dtype code, B, Hq, Hkv, T, D, causal
SHAPES = [
    ("bf16 B4 H16 T2048 D64 causal", BF16, 4, 16, 16, 2048, 64, True),
    ("bf16 B2 H32/8 T2048 D128 causal gqa", BF16, 2, 32, 8, 2048, 128, True),
    ("bf16 B4 H16 T1024 D64", BF16, 4, 16, 16, 1024, 64, False),
    ("bf16 B2 H16 T4096 D128", BF16, 2, 16, 16, 4096, 128, False),
    ("f16 B4 H16 T2048 D128 causal", F16, 4, 16, 16, 2048, 128, True),
    ("f32 B4 H8 T1024 D64", F32, 4, 8, 8, 1024, 64, False),
]
SMOKE_SHAPES = [  # the same kinds, tiny
    ("bf16 B1 H2 T64 D64 causal", BF16, 1, 2, 2, 64, 64, True),
    ("bf16 B1 H4/2 T64 D128 causal gqa", BF16, 1, 4, 2, 64, 128, True),
    ("f16 B1 H2 T48 D128", F16, 1, 2, 2, 48, 128, False),
    ("f32 B1 H2 T64 D64", F32, 1, 2, 2, 64, 64, False),
]


def _batched(fn: Callable[[], object], sync: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REPS):
            fn()
        sync()

    return run


def _callables(shape: tuple, code: int, rng: np.random.Generator) -> dict[str, Callable]:
    """Ours and torch's forward and forward + backward on one set of inputs (the same device
    memory: ember sees torch's tensors through DLPack; copies when torch runs on the CPU)."""
    import ember._C as _C
    import ember._C_cuda as C
    import torch
    import torch.nn.functional as F

    b, hq, hkv, t, d, causal = shape
    tdt = getattr(torch, TORCH_DTYPE[code])

    def tt(s: tuple) -> torch.Tensor:
        a = torch.from_numpy(rng.standard_normal(s, dtype=np.float32))
        return a.to(peer_device()).to(tdt).requires_grad_(True)

    def dl(x: torch.Tensor):
        t = _C.from_dlpack(x.detach().__dlpack__())
        if x.is_cuda:
            return t
        d = C.empty(list(x.shape), t.dtype)  # a smoke run's torch on the CPU: a device copy
        C.copy(t, d)
        return d

    tq, tk, tv = tt((b, hq, t, d)), tt((b, hkv, t, d)), tt((b, hkv, t, d))
    tg = tt((b, hq, t, d)).detach()
    eq, ek, ev, eg = (dl(x) for x in (tq, tk, tv, tg))
    eo = dl(torch.empty_like(tg))
    lse = dl(torch.empty((b, hq, t), device=peer_device(), dtype=torch.float32))
    grads = [dl(torch.empty_like(x)) for x in (tq, tk, tv)]
    scale, gqa = 1.0 / d**0.5, hq != hkv

    def ours_fwd() -> None:
        C.attention_forward(eq, ek, ev, None, eo, lse, causal, scale)

    def ours_both() -> None:
        ours_fwd()
        C.attention_backward(eg, eq, ek, ev, None, eo, lse, *grads, causal, scale)

    def peer_fwd() -> None:
        with torch.no_grad():
            F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, enable_gqa=gqa)

    def peer_both() -> None:
        y = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, enable_gqa=gqa)
        torch.autograd.grad(y, (tq, tk, tv), tg)

    return {
        "ours fwd": ours_fwd,
        "ours fwd+bwd": ours_both,
        "peer fwd": peer_fwd,
        "peer fwd+bwd": peer_both,
    }


def cases(only: str | None = None) -> list[Case]:
    """The benchmark cases (needs a CUDA GPU and torch with CUDA)."""
    import ember._C_cuda as C

    rng = np.random.default_rng(0)
    out: list[Case] = []
    for name, code, b, hq, hkv, t, d, causal in smoke(SHAPES, SMOKE_SHAPES):
        kinds = [k for k in ("fwd", "fwd+bwd") if not only or only in f"{name} {k}"]
        if not kinds:
            continue
        fns = _callables((b, hq, hkv, t, d, causal), code, rng)
        flops = 4.0 * b * hq * t * t * d * (0.5 if causal else 1.0)
        for kind in kinds:
            out.append(
                Case(
                    f"{name} {kind}",
                    _batched(fns[f"ours {kind}"], C.synchronize),
                    _batched(fns[f"peer {kind}"], peer_sync()),
                    flops * (1.0 if kind == "fwd" else 3.5) * REPS,
                    "GFLOP/s",
                )
            )
    return out


if __name__ == "__main__":
    main(
        "CUDA flash attention vs torch SDPA",
        "torch",
        cases,
        "torch.nn.functional SDPA",
        smoke_sizes=True,
    )
