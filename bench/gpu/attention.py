"""CUDA flash attention against torch's scaled_dot_product_attention (FlashAttention /
memory-efficient backends) on one GPU: forward, and forward + backward, bfloat16 and
float32, causal and not, with grouped-query attention. Ours is called through
ember._C_cuda.attention_forward / attention_backward; torch's backward runs through
autograd. Each timed call queues REPS iterations and then synchronizes; the two sides
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
from _harness import Case, main  # noqa: E402

REPS = 3  # iterations per timed call, then one synchronize
F32, BF16 = 6, 5

# name, dtype code, B, Hq, Hkv, T, D, causal
SHAPES = [
    ("bf16 B4 H16 T2048 D64 causal", BF16, 4, 16, 16, 2048, 64, True),
    ("bf16 B2 H32/8 T2048 D128 causal gqa", BF16, 2, 32, 8, 2048, 128, True),
    ("bf16 B4 H16 T1024 D64", BF16, 4, 16, 16, 1024, 64, False),
    ("f32 B4 H8 T1024 D64", F32, 4, 8, 8, 1024, 64, False),
]


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

    def dl(x: torch.Tensor):
        """ember's view of a torch CUDA tensor's memory (zero-copy, via DLPack)."""
        return _C.from_dlpack(x.detach().__dlpack__())

    rng = np.random.default_rng(0)
    out: list[Case] = []
    for name, code, b, hq, hkv, t, d, causal in SHAPES:
        for kind in ("fwd", "fwd+bwd"):
            full = f"{name} {kind}"
            if only and only not in full:
                continue
            tdt = torch.bfloat16 if code == BF16 else torch.float32

            def tt(shape, grad=False, tdt=tdt):
                a = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
                return a.cuda().to(tdt).requires_grad_(grad)

            shapes = [(b, hq, t, d), (b, hkv, t, d), (b, hkv, t, d)]
            tq, tk, tv = (tt(s, grad=kind != "fwd") for s in shapes)
            tg = tt((b, hq, t, d))
            # ember works on the same device memory.
            eq, ek, ev, eg = (dl(x) for x in (tq, tk, tv, tg))
            eo = dl(torch.empty_like(tg))
            lse = dl(torch.empty((b, hq, t), device="cuda", dtype=torch.float32))
            grads = [dl(torch.empty_like(x)) for x in (tq, tk, tv)]
            scale = 1.0 / d**0.5
            gqa = hq != hkv

            def ours_fwd(eq=eq, ek=ek, ev=ev, eo=eo, lse=lse, causal=causal, scale=scale):
                C.attention_forward(eq, ek, ev, None, eo, lse, causal, scale)

            def peer_fwd(tq=tq, tk=tk, tv=tv, causal=causal, gqa=gqa):
                with torch.no_grad():
                    F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, enable_gqa=gqa)

            def ours_both(ours_fwd=ours_fwd, eg=eg, eq=eq, ek=ek, ev=ev, eo=eo, lse=lse,
                          grads=grads, causal=causal, scale=scale):  # fmt: skip
                ours_fwd()
                C.attention_backward(eg, eq, ek, ev, None, eo, lse, *grads, causal, scale)

            def peer_both(tq=tq, tk=tk, tv=tv, tg=tg, causal=causal, gqa=gqa):
                y = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, enable_gqa=gqa)
                y.backward(tg)

            flops = 4.0 * b * hq * t * t * d * (0.5 if causal else 1.0)
            fwd = kind == "fwd"
            out.append(
                Case(
                    full,
                    _batched(ours_fwd if fwd else ours_both, C.synchronize),
                    _batched(peer_fwd if fwd else peer_both, torch.cuda.synchronize),
                    flops * (1.0 if fwd else 3.5) * REPS,
                    "GFLOP/s",
                )
            )
    return out


if __name__ == "__main__":
    main("CUDA flash attention vs torch SDPA", "torch", cases, "torch.nn.functional SDPA")
