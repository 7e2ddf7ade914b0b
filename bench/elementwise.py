"""Elementwise and reduction kernels: ember vs PyTorch CPU (same process, interleaved).
These ops are memory-bound: the throughput column counts bytes read + written.
Activations also run forward+backward (the gradient of the input): 5 x 4 bytes per element,
x read and y written forward, x or y and the output gradient read and the input's gradient
written backward.

    python bench/elementwise.py [--rounds 5] [--only substring] [--threads n] [--json out.json]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

import ember
from _harness import Case, main

TF = torch.nn.functional

ACTIVATIONS: list[tuple[str, Callable, Callable]] = [
    ("exp", ember.exp, torch.exp),
    ("tanh", ember.tanh, torch.tanh),
    ("gelu", ember.gelu, TF.gelu),
    (
        "gelu tanh",
        lambda t: ember.gelu(t, approximate="tanh"),
        lambda t: TF.gelu(t, approximate="tanh"),
    ),
    ("sigmoid", ember.sigmoid, torch.sigmoid),
    ("silu", ember.silu, TF.silu),
]


def _activation_cases(n: int, rng: np.random.Generator) -> list[Case]:
    x_np = rng.standard_normal(n).astype(np.float32)
    g_np = rng.standard_normal(n).astype(np.float32)
    x, tx = ember.from_numpy(x_np), torch.from_numpy(x_np)
    xg = ember.from_numpy(x_np.copy()).requires_grad_()
    txg = torch.from_numpy(x_np.copy()).requires_grad_()
    g, tg = ember.from_numpy(g_np), torch.from_numpy(g_np)
    nb = 4 * n
    cases = []
    for name, ours_op, peer_op in ACTIVATIONS:
        cases.append(Case(f"{name} 4M", lambda f=ours_op: f(x), lambda f=peer_op: f(tx), 2 * nb))

        def ours_bwd(f=ours_op):
            xg.grad = None
            f(xg).backward(g)

        def peer_bwd(f=peer_op):
            txg.grad = None
            f(txg).backward(tg)

        cases.append(Case(f"{name} 4M fwd+bwd", ours_bwd, peer_bwd, 5 * nb))
    return cases


def make_cases(only: str | None = None) -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    n = 1 << 22
    a_np = rng.standard_normal(n).astype(np.float32)
    b_np = rng.standard_normal(n).astype(np.float32)
    a, b = ember.from_numpy(a_np), ember.from_numpy(b_np)
    ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
    m_np = rng.standard_normal((4096, 1024)).astype(np.float32)
    row_np = rng.standard_normal(1024).astype(np.float32)
    m, row = ember.from_numpy(m_np), ember.from_numpy(row_np)
    tm, trow = torch.from_numpy(m_np), torch.from_numpy(row_np)
    nb = 4 * n
    mb = 4 * m_np.size
    cases = [
        Case("add 4M", lambda: a + b, lambda: ta + tb, 3 * nb),
        Case("mul by scalar 4M", lambda: a * 1.5, lambda: ta * 1.5, 2 * nb),
        Case("add row broadcast 4096x1024", lambda: m + row, lambda: tm + trow, 2 * mb),
        *_activation_cases(n, rng),
        Case("sum 4M", lambda: a.sum(), lambda: ta.sum(), nb),
        Case("sum rows 4096x1024", lambda: m.sum(1), lambda: tm.sum(1), mb),
        Case("sum cols 4096x1024", lambda: m.sum(0), lambda: tm.sum(0), mb),
        Case("amax rows 4096x1024", lambda: m.amax(1), lambda: tm.amax(1), mb),
        Case(
            "softmax rows 4096x1024",
            lambda: ember.softmax(m, -1),
            lambda: torch.softmax(tm, -1),
            2 * mb,
        ),
        Case(
            "transpose copy 4096x1024", lambda: m.T.contiguous(), lambda: tm.T.contiguous(), 2 * mb
        ),
    ]
    return [c for c in cases if not only or only in c.name]


if __name__ == "__main__":
    main("Elementwise and reductions (float32)", "torch", make_cases)
