"""CUDA int8 GEMM benchmark: ember._C_cuda.qgemm_s32 / qgemm_linear against torch on one GPU.

The peer is torch._int_mm (cuBLAS int8 x int8 -> int32; s8 activations where ours are u8)
where this torch has it for the shape, else a bf16 cuBLAS matmul of the same (M, N, K); each
case's name says which. Square products and Linear shapes (x @ W^T, W (N, K)), plus the fused
fp32 epilogue (per-row activation scale and zero point, per-channel weight scale, bias,
gelu) against the peer's bare product. Each timed call launches REPS products and waits for
the device; ours and torch's alternate over rounds (bench/_harness.py, medians, ratio
torch/ember).

    python bench/gpu/qgemm.py [--rounds 5] [--only 4096] [--json out.json]

Imports without a GPU; make_cases() needs one (and torch with CUDA).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

REPS = 5


def _peer(m: int, n: int, k: int, rng: np.random.Generator) -> tuple[str, Callable[[], object]]:
    """(peer name, one call) for an (m, n, k) product: torch._int_mm if it runs the shape,
    else bf16 cuBLAS."""
    import torch

    dev = peer_device()
    a = torch.from_numpy(rng.integers(-128, 128, (m, k), dtype=np.int8)).to(dev)
    b = torch.from_numpy(rng.integers(-128, 128, (n, k), dtype=np.int8)).to(dev).t()
    if hasattr(torch, "_int_mm"):
        try:
            torch._int_mm(a, b)
            return "torch._int_mm", lambda: torch._int_mm(a, b)
        except RuntimeError:  # shape limits (M > 16, multiples of 8) vary by version
            pass
    af, bf = a.bfloat16(), b.bfloat16()
    return "bf16 cuBLAS", lambda: torch.matmul(af, bf)


def _label(m: int, n: int, k: int, fused: bool) -> str:
    return f"{'linear+gelu' if fused else 's32'} {m}x{n}x{k}"


def _case(m: int, n: int, k: int, fused: bool, rng: np.random.Generator) -> Case:
    import ember._C_cuda as C

    import ember
    from ember.ops import qgemm

    x = ember.from_numpy(rng.integers(-128, 128, (m, k), dtype=np.int8)).cuda()
    packed = qgemm.pack_int8_weight(
        ember.from_numpy(rng.integers(-128, 128, (n, k), dtype=np.int8)).cuda()
    )
    a_scale = ember.from_numpy((rng.random(m) * 0.01).astype(np.float32)).cuda()
    a_zero = ember.from_numpy(rng.integers(0, 256, m).astype(np.int32)).cuda()
    w_scale = ember.from_numpy((rng.random(n) * 0.01).astype(np.float32)).cuda()
    bias = ember.from_numpy(rng.standard_normal(n).astype(np.float32)).cuda()
    out = ember.empty(m, n, dtype=ember.float32 if fused else ember.int32, device="cuda")
    args = (x._impl, packed.data._impl, packed.colsum._impl)

    def ours() -> None:
        for _ in range(REPS):
            if fused:
                C.qgemm_linear(
                    args[0], a_scale._impl, a_zero._impl, args[1], args[2], w_scale._impl,
                    bias._impl, 2, out._impl,
                )  # fmt: skip
            else:
                C.qgemm_s32(args[0], args[1], n, out._impl)
        C.synchronize()

    peer_name, peer_call = _peer(m, n, k, rng)
    sync = peer_sync()

    def peer() -> None:
        for _ in range(REPS):
            peer_call()
        sync()

    name = f"{_label(m, n, k, fused)} (peer {peer_name})"
    return Case(name, ours, peer, 2.0 * m * n * k * REPS / 1e3, "TOP/s")


def make_cases(only: str | None = None) -> list[Case]:
    """The benchmark's cases (needs a GPU and torch with CUDA)."""
    rng = np.random.default_rng(0)
    specs = [  # (m, n, k, fused epilogue)
        (4096, 4096, 4096, False),
        (8192, 8192, 8192, False),
        (4096, 11008, 4096, False),  # Llama-7B MLP up, 4096 tokens
        (4096, 4096, 4096, True),
        (32, 4096, 4096, False),  # a small batch of tokens
    ]
    specs = smoke(specs, [(64, 64, 64, False), (64, 96, 128, True), (8, 64, 64, False)])
    return [_case(*spec, rng) for spec in specs if only is None or only in _label(*spec)]


if __name__ == "__main__":
    import torch

    main(
        "CUDA int8 GEMM vs torch",
        "torch",
        make_cases,
        f"torch {torch.__version__}",
        smoke_sizes=True,
    )
