"""Per-op Python overhead: tiny tensors, so the time is almost all dispatch (argument
checks, allocation, autograd bookkeeping), ember vs PyTorch CPU in microseconds per call.
Same process, interleaved rounds, medians; ratio = torch / ember (> 1: ember is faster).

At the GPT "baby" size (bench/train_gpt.py) a training step runs a few hundred ops, so
every 10 us per op is a few ms per step: keep ops coarse.

    python bench/overhead.py [--rounds 5] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

import ember
import ember.nn as enn
import ember.nn.functional as eF
from _harness import _time


def cases() -> list[tuple[str, object, object]]:
    rng = np.random.default_rng(0)
    a4 = rng.standard_normal(4).astype(np.float32)
    b4 = rng.standard_normal(4).astype(np.float32)
    m4 = rng.standard_normal((4, 4)).astype(np.float32)
    x8 = rng.standard_normal((8, 16)).astype(np.float32)
    m16 = rng.standard_normal((16, 16)).astype(np.float32)
    x64 = rng.standard_normal((8, 64)).astype(np.float32)

    ex, ey = ember.tensor(a4), ember.tensor(b4)
    tx, ty = torch.tensor(a4), torch.tensor(b4)
    exg, txg = ember.tensor(a4, requires_grad=True), torch.tensor(a4, requires_grad=True)
    em, tm = ember.tensor(m4), torch.tensor(m4)
    ex8, tx8 = ember.tensor(x8), torch.tensor(x8)
    ex8g, tx8g = ember.tensor(x8, requires_grad=True), torch.tensor(x8, requires_grad=True)
    e16, t16 = ember.tensor(m16), torch.tensor(m16)
    ex64g, tx64g = ember.tensor(x64, requires_grad=True), torch.tensor(x64, requires_grad=True)

    ember.manual_seed(0)
    torch.manual_seed(0)
    elin, tlin = enn.Linear(16, 16), torch.nn.Linear(16, 16)
    eln, tln = enn.LayerNorm(16), torch.nn.LayerNorm(16)
    elin64, tlin64 = enn.Linear(64, 64), torch.nn.Linear(64, 64)

    def e_linear_fb():
        elin(ex8g).sum().backward()
        elin.weight.grad = elin.bias.grad = ex8g.grad = None

    def t_linear_fb():
        tlin(tx8g).sum().backward()
        tlin.weight.grad = tlin.bias.grad = tx8g.grad = None

    def e_linear64_fb():
        elin64(ex64g).sum().backward()
        elin64.weight.grad = elin64.bias.grad = ex64g.grad = None

    def t_linear64_fb():
        tlin64(tx64g).sum().backward()
        tlin64.weight.grad = tlin64.bias.grad = tx64g.grad = None

    def e_tiny_backward():
        (exg * 2.0).sum().backward()
        exg.grad = None

    def t_tiny_backward():
        (txg * 2.0).sum().backward()
        txg.grad = None

    eng, tng = ember.no_grad, torch.no_grad
    return [
        ("x + y (4 elements)", lambda: ex + ey, lambda: tx + ty),
        ("a + b (16x16)", lambda: e16 + e16, lambda: t16 + t16),
        ("x + y, x requires grad", lambda: exg + ey, lambda: txg + ty),
        ("x * 2.0 (scalar)", lambda: ex * 2.0, lambda: tx * 2.0),
        ("relu(x)", lambda: ex.relu(), lambda: tx.relu()),
        ("x.sum()", lambda: ex.sum(), lambda: tx.sum()),
        ("x.view(2, 2)", lambda: ex.view(2, 2), lambda: tx.view(2, 2)),
        ("x[1:3]", lambda: ex[1:3], lambda: tx[1:3]),
        ("x.transpose(0, 1) (4x4)", lambda: em.transpose(0, 1), lambda: tm.transpose(0, 1)),
        ("a @ b (4x4)", lambda: em @ em, lambda: tm @ tm),
        ("a @ b (16x16)", lambda: e16 @ e16, lambda: t16 @ t16),
        ("softmax(x, -1)", lambda: eF.softmax(ex, -1), lambda: torch.softmax(tx, -1)),
        ("from_numpy (4 elements)", lambda: ember.from_numpy(a4), lambda: torch.from_numpy(a4)),
        ("zeros(4)", lambda: ember.zeros(4), lambda: torch.zeros(4)),
        ("Linear(16,16) fwd, no_grad", lambda: _ng(eng, elin, ex8), lambda: _ng(tng, tlin, tx8)),
        ("Linear(16,16) fwd", lambda: elin(ex8), lambda: tlin(tx8)),
        ("Linear(16,16) fwd+bwd", e_linear_fb, t_linear_fb),
        ("Linear(64,64) fwd+bwd (8 rows)", e_linear64_fb, t_linear64_fb),
        ("LayerNorm(16) fwd", lambda: eln(ex8), lambda: tln(tx8)),
        ("(x*2).sum().backward()", e_tiny_backward, t_tiny_backward),
    ]


def _ng(ctx, mod, x):  # noqa: ANN001, ANN202
    with ctx():
        return mod(x)


def main() -> None:
    ap = argparse.ArgumentParser(description="per-op Python overhead, ember vs torch")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--json")
    args = ap.parse_args()
    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)

    rows = []
    for name, ours, peer in cases():
        o, p = [], []
        for _ in range(args.rounds):
            o.append(_time(ours, args.min_time))
            p.append(_time(peer, args.min_time))
        om, pm = statistics.median(o) * 1e6, statistics.median(p) * 1e6
        rows.append({"case": name, "ember_us": om, "torch_us": pm, "ratio": pm / om})

    print("## Python overhead per op (tiny tensors)\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, ember ISA {ember._C.get_isa()}, "
        f"{args.threads} thread(s), torch {torch.__version__}\n"
    )
    print("| case | ember us | torch us | ratio (torch/ember) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['ember_us']:.1f} | {r['torch_us']:.1f} | {r['ratio']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
