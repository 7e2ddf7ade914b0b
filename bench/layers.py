"""Fused layers: layer_norm, rms_norm and softmax cross-entropy, ember vs PyTorch CPU (same
process, interleaved). All memory-bound: the throughput column counts the bytes each op
must read and write at least (forward: x in, y out; forward+backward adds the gradient in
and out; cross-entropy: logits in, dlogits out, grad in / out)."""

from __future__ import annotations

import os

import numpy as np
import torch

import ember
import ember.nn.functional as F
from _harness import Case, main
from ember.ops.cross_entropy import softmax_cross_entropy


def _norm_cases(rng: np.random.Generator, rows: int, n: int, rms: bool) -> list[Case]:
    x_np = rng.standard_normal((rows, n)).astype(np.float32)
    w_np = rng.standard_normal(n).astype(np.float32)
    b_np = rng.standard_normal(n).astype(np.float32)
    g_np = rng.standard_normal((rows, n)).astype(np.float32)
    x, w, b, g = (ember.from_numpy(a) for a in (x_np, w_np, b_np, g_np))
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x_np, w_np, b_np, g_np))
    xr, wr, br = x.detach().requires_grad_(True), w.detach().requires_grad_(True), b.detach()
    br.requires_grad_(True)
    txr, twr, tbr = (t.clone().requires_grad_(True) for t in (tx, tw, tb))
    tf = torch.nn.functional
    name = "rms_norm" if rms else "layer_norm"
    if rms:
        fwd = lambda: F.rms_norm(x, n, w)  # noqa: E731
        tfwd = lambda: tf.rms_norm(tx, (n,), tw)  # noqa: E731

        def both() -> None:
            xr.grad = wr.grad = None
            F.rms_norm(xr, n, wr).backward(g)

        def tboth() -> None:
            txr.grad = twr.grad = None
            tf.rms_norm(txr, (n,), twr).backward(tg)
    else:
        fwd = lambda: F.layer_norm(x, n, w, b)  # noqa: E731
        tfwd = lambda: tf.layer_norm(tx, (n,), tw, tb)  # noqa: E731

        def both() -> None:
            xr.grad = wr.grad = br.grad = None
            F.layer_norm(xr, n, wr, br).backward(g)

        def tboth() -> None:
            txr.grad = twr.grad = tbr.grad = None
            tf.layer_norm(txr, (n,), twr, tbr).backward(tg)

    nb = 4 * rows * n
    return [
        Case(f"{name} fwd {rows}x{n}", fwd, tfwd, 2 * nb),
        Case(f"{name} fwd+bwd {rows}x{n}", both, tboth, 5 * nb),
    ]


def _ce_case(rng: np.random.Generator, rows: int, c: int) -> Case:
    x_np = rng.standard_normal((rows, c)).astype(np.float32)
    t_np = rng.integers(0, c, rows).astype(np.int64)
    x = ember.from_numpy(x_np).requires_grad_(True)
    t = ember.from_numpy(t_np)
    tx = torch.from_numpy(x_np).clone().requires_grad_(True)
    tt = torch.from_numpy(t_np)

    def ours() -> None:
        x.grad = None
        softmax_cross_entropy(x, t).backward()

    def peer() -> None:
        tx.grad = None
        torch.nn.functional.cross_entropy(tx, tt).backward()

    # logits in, dlogits out (forward), dlogits in, grad out (backward)
    return Case(f"cross_entropy fwd+bwd {rows}x{c}", ours, peer, 4 * 4 * rows * c)


def make_cases() -> list[Case]:
    torch.set_num_threads(ember.get_num_threads())
    rng = np.random.default_rng(0)
    cases: list[Case] = []
    for rms in (False, True):
        for rows, n in ((8192, 768), (8192, 4096)):
            cases += _norm_cases(rng, rows, n, rms)
    # 8192 x 50304 float32 logits are 1.6 GB per tensor (about 10 GB in flight with torch's
    # intermediates); EMBER_BENCH_CE_ROWS shrinks the case on a crowded machine.
    cases.append(_ce_case(rng, int(os.environ.get("EMBER_BENCH_CE_ROWS", 8192)), 50304))
    return cases


if __name__ == "__main__":
    main("Fused layers: layer_norm, rms_norm, cross-entropy (float32)", "torch", make_cases)
