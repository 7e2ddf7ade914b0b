"""CUDA GEMM benchmark: ember._C_cuda.gemm against torch (cuBLAS) on one GPU.

Square bf16 (tensor cores, bf16 out) and float32 (SIMT, and TF32 tensor cores with
ember.backends.cuda.matmul.allow_tf32 / torch's flag alike) products at 4096 and 8192,
plus the Linear layout x @ W^T in bf16. Each timed call launches REPS products and waits
for the device, so both sides pay one synchronization per REPS kernels; ours and torch's
alternate over rounds (bench/_harness.py, medians, ratio torch/ember).

    python bench/gpu/gemm.py [--rounds 5] [--only bf16] [--json out.json]

Imports without a GPU; make_cases() needs one (and torch with CUDA).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

REPS = 5
BF16, F32 = 5, 6


def _device_operand(rng: np.random.Generator, shape: tuple[int, ...], code: int):
    """(ember CUDA TensorImpl, torch CUDA tensor) holding the same random values."""
    import ember._C as _C
    import ember._C_cuda as C
    import torch

    x = rng.standard_normal(shape, dtype=np.float32)
    t = torch.from_numpy(x).to(peer_device())
    if code == BF16:
        t = t.bfloat16()
        bits = t.view(torch.int16).cpu().numpy().view(np.float16)
        host = _C.TensorImpl.from_buffer(bits).view_as_dtype(BF16)
    else:
        host = _C.TensorImpl.from_buffer(x)
    d = C.empty(list(shape), code)
    C.copy(host, d)
    return d, t


def _case(name: str, m: int, n: int, k: int, code: int, tf32: bool, nt: bool, rng) -> Case:
    import ember._C_cuda as C
    import torch

    import ember.backends.cuda

    a, ta = _device_operand(rng, (1, m, k), code)
    if nt:  # b = W^T with W (n, k) stored: the Linear forward
        w, tw = _device_operand(rng, (1, n, k), code)
        b = w.as_strided([1, k, n], [0, 1, k], 0)
        tb = tw.transpose(1, 2)
    else:
        b, tb = _device_operand(rng, (1, k, n), code)
    out = C.empty([1, m, n], code)
    tout = torch.empty((1, m, n), dtype=ta.dtype, device=peer_device())
    sync = peer_sync()

    def ours() -> None:
        ember.backends.cuda.matmul.allow_tf32 = tf32
        for _ in range(REPS):
            C.gemm(a, b, out)
        C.synchronize()

    def peer() -> None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for _ in range(REPS):
            torch.matmul(ta, tb, out=tout)
        sync()

    return Case(name, ours, peer, 2.0 * m * n * k * REPS / 1e3, "TFLOP/s")


def make_cases(only: str | None = None) -> list[Case]:
    """The benchmark's cases (needs a GPU and torch with CUDA)."""
    rng = np.random.default_rng(0)
    specs = []  # (name, m, n, k, dtype code, tf32, b = W^T)
    for s in smoke((4096, 8192), (64, 128)):
        specs += [
            (f"bf16 {s}^3", s, s, s, BF16, False, False),
            (f"fp32 tf32 {s}^3", s, s, s, F32, True, False),
            (f"fp32 {s}^3", s, s, s, F32, False, False),
        ]
    m, n, k = smoke((4096, 16384, 4096), (64, 256, 64))
    specs.append((f"bf16 x@W^T {m}x{n}x{k}", m, n, k, BF16, False, True))
    return [_case(*spec, rng) for spec in specs if only is None or only in spec[0]]


if __name__ == "__main__":
    import torch

    main(
        "CUDA GEMM vs torch (cuBLAS)",
        "torch",
        make_cases,
        f"torch {torch.__version__} cuBLAS",
        smoke_sizes=True,
    )
