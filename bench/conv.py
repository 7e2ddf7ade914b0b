"""Convolution: ember vs PyTorch CPU (torch.nn.functional.conv2d, oneDNN), same process,
interleaved rounds. Forward (no grad) and forward + backward (grad input, weight and bias).
GFLOP/s count 2 N K C/groups kh kw oh ow per convolution (x3 with the backward).

    python bench/conv.py [--rounds 5] [--only substring] [--json out.json]
"""

from __future__ import annotations

import numpy as np
import torch

import ember
import ember.nn.functional as F
from _harness import Case, main

# name, (n, c, h, w), k, kernel, stride, padding, groups
SHAPES = [
    ("N32 C3 32x32 -> 64, 3x3 p1", (32, 3, 32, 32), 64, 3, 1, 1, 1),
    ("N32 C64 32x32 -> 64, 3x3 p1", (32, 64, 32, 32), 64, 3, 1, 1, 1),
    ("N32 C128 16x16 -> 128, 3x3 p1", (32, 128, 16, 16), 128, 3, 1, 1, 1),
    ("N8 C256 14x14 -> 256, 3x3 p1", (8, 256, 14, 14), 256, 3, 1, 1, 1),
    ("N32 C256 14x14 -> 64, 1x1", (32, 256, 14, 14), 64, 1, 1, 0, 1),
    ("N32 C128 32x32 depthwise 3x3 p1", (32, 128, 32, 32), 128, 3, 1, 1, 128),
    ("N32 C64 32x32 -> 128, 3x3 s2 p1", (32, 64, 32, 32), 128, 3, 2, 1, 1),
    ("N8 C128 28x28 -> 256, 3x3 s2 p1", (8, 128, 28, 28), 256, 3, 2, 1, 1),
    ("N32 C32 64x64 -> 64, 3x3 s2 p1", (32, 32, 64, 64), 64, 3, 2, 1, 1),
]


def _flops(shape, k, ks, stride, pad, groups) -> float:
    n, c, h, w = shape
    oh = (h + 2 * pad - ks) // stride + 1
    ow = (w + 2 * pad - ks) // stride + 1
    return 2.0 * n * k * (c // groups) * ks * ks * oh * ow


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    cases = []
    for name, shape, k, ks, stride, pad, groups in SHAPES:
        if only and only not in name:
            continue
        x_np = rng.standard_normal(shape).astype(np.float32)
        w_np = (rng.standard_normal((k, shape[1] // groups, ks, ks)) * 0.1).astype(np.float32)
        b_np = rng.standard_normal(k).astype(np.float32)
        x, w, b = ember.from_numpy(x_np), ember.from_numpy(w_np), ember.from_numpy(b_np)
        tx, tw, tb = (torch.from_numpy(a) for a in (x_np, w_np, b_np))
        fl = _flops(shape, k, ks, stride, pad, groups)

        def ours(x=x, w=w, b=b, s=stride, p=pad, g=groups):
            with ember.no_grad():
                return F.conv2d(x, w, b, s, p, 1, g)

        def peer(x=tx, w=tw, b=tb, s=stride, p=pad, g=groups):
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, w, b, s, p, 1, g)

        cases.append(Case(f"{name} fwd", ours, peer, fl, "GFLOP/s"))

        xg = ember.from_numpy(x_np.copy()).requires_grad_()
        wg = ember.from_numpy(w_np.copy()).requires_grad_()
        bg = ember.from_numpy(b_np.copy()).requires_grad_()
        txg, twg, tbg = (torch.from_numpy(a.copy()).requires_grad_() for a in (x_np, w_np, b_np))
        out_shape = tuple(ours().shape)
        gy_np = rng.standard_normal(out_shape).astype(np.float32)
        gy, tgy = ember.from_numpy(gy_np), torch.from_numpy(gy_np)

        def ours_bwd(x=xg, w=wg, b=bg, gy=gy, s=stride, p=pad, g=groups):
            for t in (x, w, b):
                t.grad = None
            F.conv2d(x, w, b, s, p, 1, g).backward(gy)

        def peer_bwd(x=txg, w=twg, b=tbg, gy=tgy, s=stride, p=pad, g=groups):
            for t in (x, w, b):
                t.grad = None
            torch.nn.functional.conv2d(x, w, b, s, p, 1, g).backward(gy)

        cases.append(Case(f"{name} fwd+bwd", ours_bwd, peer_bwd, 3 * fl, "GFLOP/s"))
    return cases


if __name__ == "__main__":
    main(
        "Convolution (conv2d, float32, NCHW)",
        "torch",
        make_cases,
        f"torch {torch.__version__} (oneDNN)",
    )
