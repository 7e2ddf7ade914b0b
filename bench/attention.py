"""Scaled-dot-product attention benchmark: ember vs torch.nn.functional.
scaled_dot_product_attention (CPU flash attention) in one process, interleaved.

Forward and forward+backward, causal and not, float32, (B, H, T, D) layout. FLOPs counted
as 4 * B * H * T * T * D for the forward (halved when causal) and 2.5x that for the
backward, so fwd+bwd is 3.5x the forward count. bf16 forward rows: ember vs torch on
bfloat16 tensors ("bf16 fwd"), and ember bf16 vs ember float32 ("bf16 fwd vs ember fp32",
peer column = ember float32). ember's bf16 forward runs on vdpbf16ps where
ember._C._attention_bf16_native() (else in float32).
Usage: python bench/attention.py [--rounds 5] [--threads 1] [--only T=256] [--json out.json]
"""

from __future__ import annotations

import numpy as np
import torch

import ember
import ember.nn.functional as F
from _harness import Case, main

SHAPES = [(8, 8, 256, 64), (4, 12, 512, 64), (1, 8, 2048, 64), (1, 1, 8192, 64)]


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    cases = []
    for B, H, T, D in SHAPES:
        arrs = [rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(4)]
        q, k, v = (ember.from_numpy(a) for a in arrs[:3])
        tq, tk, tv = (torch.from_numpy(a) for a in arrs[:3])
        qg, kg, vg = (ember.from_numpy(a.copy()).requires_grad_() for a in arrs[:3])
        tqg, tkg, tvg = (torch.from_numpy(a.copy()).requires_grad_() for a in arrs[:3])
        gy, tgy = ember.from_numpy(arrs[3]), torch.from_numpy(arrs[3])
        qh, kh, vh = (x.to(ember.bfloat16) for x in (q, k, v))
        tqh, tkh, tvh = (x.to(torch.bfloat16) for x in (tq, tk, tv))
        for causal in (False, True):
            name = f"B={B} H={H} T={T} D={D}{' causal' if causal else ''}"
            if only and only not in name:
                continue
            fl = 4.0 * B * H * T * T * D / (2 if causal else 1)

            def ours(c=causal, q=q, k=k, v=v):
                with ember.no_grad():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=c)

            def peer(c=causal, q=tq, k=tk, v=tv):
                with torch.no_grad():
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=c)

            def ours_bwd(c=causal, q=qg, k=kg, v=vg, gy=gy):
                for t in (q, k, v):
                    t.grad = None
                F.scaled_dot_product_attention(q, k, v, is_causal=c).backward(gy)

            def peer_bwd(c=causal, q=tqg, k=tkg, v=tvg, gy=tgy):
                for t in (q, k, v):
                    t.grad = None
                torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=c).backward(gy)

            def ours_bf16(c=causal, q=qh, k=kh, v=vh):
                with ember.no_grad():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=c)

            def peer_bf16(c=causal, q=tqh, k=tkh, v=tvh):
                with torch.no_grad():
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=c)

            cases.append(Case(f"{name} fwd", ours, peer, fl, "GFLOP/s"))
            cases.append(Case(f"{name} fwd+bwd", ours_bwd, peer_bwd, 3.5 * fl, "GFLOP/s"))
            cases.append(Case(f"{name} bf16 fwd", ours_bf16, peer_bf16, fl, "GFLOP/s"))
            cases.append(Case(f"{name} bf16 fwd vs ember fp32", ours_bf16, ours, fl, "GFLOP/s"))
    return cases


if __name__ == "__main__":
    main(
        "Attention (scaled_dot_product_attention, float32 and bf16 forward, B H T D)",
        "torch",
        make_cases,
        f"torch {torch.__version__}",
    )
