"""Elementwise and reduction kernels: ember vs PyTorch CPU (same process, interleaved).
These ops are memory-bound: the throughput column counts bytes read + written."""

from __future__ import annotations

import numpy as np
import torch

import ember
from _harness import Case, main


def make_cases() -> list[Case]:
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
    return [
        Case("add 4M", lambda: a + b, lambda: ta + tb, 3 * nb),
        Case("mul by scalar 4M", lambda: a * 1.5, lambda: ta * 1.5, 2 * nb),
        Case("add row broadcast 4096x1024", lambda: m + row, lambda: tm + trow, 2 * mb),
        Case("exp 4M", lambda: a.exp(), lambda: ta.exp(), 2 * nb),
        Case("tanh 4M", lambda: a.tanh(), lambda: ta.tanh(), 2 * nb),
        Case("gelu 4M", lambda: ember.gelu(a), lambda: torch.nn.functional.gelu(ta), 2 * nb),
        Case("sigmoid 4M", lambda: a.sigmoid(), lambda: ta.sigmoid(), 2 * nb),
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


if __name__ == "__main__":
    main("Elementwise and reductions (float32)", "torch", make_cases)
