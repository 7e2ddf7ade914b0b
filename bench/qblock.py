"""Block-quantized GEMV/GEMM (ggml Q8_0 / Q4_0 weights, activations quantized to Q8_0) vs
ember's own float32 Linear (F.linear, x @ W.T) on the same shapes, same process,
interleaved rounds. Batch-1 decoding is bound by the weights' bytes: Q8_0 moves 34 / 128 of
float32's, Q4_0 18 / 128. Throughput counts the weight bytes each call reads.

    python bench/qblock.py [--rounds 5] [--only substring] [--threads n] [--json out.json]
"""

from __future__ import annotations

import numpy as np

import ember
import ember.nn.functional as F
from _harness import Case, main
from ember.ops import qblock as Q

# name, M (tokens), N, K
SHAPES = [("GEMV 4096x4096", 1, 4096, 4096), ("M8 4096x4096", 8, 4096, 4096)]


def make_cases(only: str | None = None) -> list[Case]:
    rng = np.random.default_rng(0)
    cases = []
    for name, m, n, k in SHAPES:
        w_np = rng.standard_normal((n, k)).astype(np.float32)
        x = ember.from_numpy(rng.standard_normal((m, k)).astype(np.float32))
        w = ember.from_numpy(w_np)
        for scheme, quantize in (("q4_0", Q.quantize_q4_0), ("q8_0", Q.quantize_q8_0)):
            full = f"{scheme} {name}"
            if only and only not in full:
                continue
            blocks = quantize(w)

            def ours(x=x, b=blocks, s=scheme, n=n, k=k):
                return Q.qblock_linear(x, b, s, n, k)

            def peer(x=x, w=w):
                with ember.no_grad():
                    return F.linear(x, w)

            cases.append(Case(full, ours, peer, float(Q.block_bytes(scheme, k) * n), "GB/s"))
    return cases


if __name__ == "__main__":
    main("Block-quantized Linear (Q8_0 / Q4_0) vs ember float32", "ember fp32", make_cases)
