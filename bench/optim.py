"""Optimizer steps: ember's fused multi-tensor kernels vs torch.optim (fused=True where
torch has it on the CPU, and foreach=True), same process, interleaved rounds, medians.

Cases: 10M float32 parameters in 20 tensors, and 2000 small tensors (16..2047
elements, about 2.1M parameters) where per-tensor overhead dominates. Each timed call is
a full ``optimizer.step()`` (Python included) on fixed gradients. Throughput counts the
bytes read + written per parameter (e.g. Adam: p, g, exp_avg, exp_avg_sq read and p,
exp_avg, exp_avg_sq written = 28 B). Lion has no torch optimizer: its peer is the
lion-pytorch per-tensor loop written with torch ops.

    python bench/optim.py [--rounds 7] [--json out.json] [--only Adam,SGD]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

import ember
import ember.optim as eo
from _harness import _time

# name: (ember class, torch class or None, kwargs, bytes per float32 parameter, torch fused?)
OPTIMIZERS = {
    "SGD": (eo.SGD, torch.optim.SGD, dict(lr=1e-4, momentum=0.9), 20, True),
    "Adagrad": (eo.Adagrad, torch.optim.Adagrad, dict(lr=1e-4), 20, True),
    "RMSprop": (eo.RMSprop, torch.optim.RMSprop, dict(lr=1e-4), 20, False),
    "Adam": (eo.Adam, torch.optim.Adam, dict(lr=1e-4), 28, True),
    "AdamW": (eo.AdamW, torch.optim.AdamW, dict(lr=1e-4), 28, True),
    "Lion": (eo.Lion, None, dict(lr=1e-5), 20, False),
}


class TorchLion:
    """lion-pytorch's update (lucidrains), per tensor with torch ops: the peer for Lion."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        self.params = list(params)
        self.lr, self.betas, self.wd = lr, betas, weight_decay
        self.state = {}

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        for p in self.params:
            if p.grad is None:
                continue
            m = self.state.setdefault(p, torch.zeros_like(p))
            p.mul_(1 - self.lr * self.wd)
            update = m.mul(b1).add_(p.grad, alpha=1 - b1).sign_()
            p.add_(update, alpha=-self.lr)
            m.mul_(b2).add_(p.grad, alpha=1 - b2)


def make_arrays(sizes, seed=0):
    rng = np.random.default_rng(seed)
    ps = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    gs = [(rng.standard_normal(n) * 1e-2).astype(np.float32) for n in sizes]
    return ps, gs


def ember_step(cls, kw, ps, gs, **extra):
    params = [ember.nn.Parameter(ember.from_numpy(p.copy())) for p in ps]
    for p, g in zip(params, gs):
        p.grad = ember.from_numpy(g.copy())
    opt = cls(params, **kw, **extra)
    opt.step()  # creates the state outside the timing
    return opt.step


def torch_step(cls, kw, ps, gs, **extra):
    params = [torch.tensor(p, requires_grad=True) for p in ps]
    for p, g in zip(params, gs):
        p.grad = torch.tensor(g)
    opt = cls(params, **kw, **extra) if cls is not None else TorchLion(params, **kw)
    opt.step()
    return opt.step


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_case(label, contenders, n_params, bytes_per, rounds, min_time):
    """Interleave every contender once per round; medians and ember's spread."""
    times = {k: [] for k in contenders}
    for _ in range(rounds):
        for k, fn in contenders.items():
            times[k].append(_time(fn, min_time))
    med = {k: statistics.median(v) for k, v in times.items()}
    ours = med["ember"]
    return {
        "case": label,
        "ms": {k: v * 1e3 for k, v in med.items()},
        "ratio": {k: med[k] / ours for k in med if k != "ember"},
        "gbs": n_params * bytes_per / ours / 1e9,
        "spread": max(times["ember"]) / min(times["ember"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.1)
    ap.add_argument("--only", help="comma-separated optimizer names")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    threads = ember.get_num_threads()
    torch.set_num_threads(threads)
    names = args.only.split(",") if args.only else list(OPTIMIZERS)
    rng = np.random.default_rng(1)
    shapes = {
        "10M / 20 tensors": [500_000] * 20,
        "2000 small tensors": [int(n) for n in rng.integers(16, 2048, 2000)],
    }
    load_before = load()
    rows = []
    for case, sizes in shapes.items():
        ps, gs = make_arrays(sizes)
        n = sum(sizes)
        for name in names:
            ecls, tcls, kw, nbytes, has_fused = OPTIMIZERS[name]
            contenders = {"ember": ember_step(ecls, kw, ps, gs)}
            if has_fused:
                contenders["torch fused"] = torch_step(tcls, kw, ps, gs, fused=True)
            if tcls is not None:
                contenders["torch foreach"] = torch_step(tcls, kw, ps, gs, foreach=True)
            else:
                contenders["torch loop"] = torch_step(None, kw, ps, gs)
            if name == "Adam":
                contenders["ember skip_nonfinite"] = ember_step(
                    ecls, kw, ps, gs, skip_nonfinite=True
                )
            rows.append(
                bench_case(f"{name}, {case}", contenders, n, nbytes, args.rounds, args.min_time)
            )
            print(_fmt(rows[-1]), flush=True)
    load_after = load()
    print()
    print(
        f"## Optimizers\n\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, ember ISA "
        f"{ember._C.get_isa()}, {threads} threads, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); {args.rounds} interleaved rounds, medians; "
        f"load average before {load_before}, after {load_after}\n"
    )
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "load": [load_before, load_after]}, f, indent=1)


def _fmt(r: dict) -> str:
    parts = [f"{k} {v:.2f} ms" for k, v in r["ms"].items()]
    ratios = [f"{k}/ember {v:.2f}" for k, v in r["ratio"].items()]
    return f"{r['case']}: " + ", ".join(parts + ratios) + f", {r['gbs']:.1f} GB/s"


def table(rows: list[dict]) -> str:
    head = (
        "| case | ember ms | torch fused ms | torch foreach ms | fused/ember | "
        "foreach/ember | ember GB/s | spread |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ms, ra = r["ms"], r["ratio"]
        fe = ms.get("torch foreach", ms.get("torch loop"))
        fe_r = ra.get("torch foreach", ra.get("torch loop"))
        fu = f"{ms['torch fused']:.2f}" if "torch fused" in ms else "-"
        fu_r = f"{ra['torch fused']:.2f}" if "torch fused" in ra else "-"
        lines.append(
            f"| {r['case']} | {ms['ember']:.2f} | {fu} | {fe:.2f} | {fu_r} | {fe_r:.2f} | "
            f"{r['gbs']:.1f} | {r['spread']:.2f} |"
        )
        if "ember skip_nonfinite" in ms:
            lines.append(
                f"| {r['case']}, skip_nonfinite=True | {ms['ember skip_nonfinite']:.2f} | | | "
                f"| | | |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
