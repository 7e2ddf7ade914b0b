"""GPU benchmark of the fused optimizers: ember's multi-tensor Adam step on CUDA against
torch.optim.Adam(fused=True), on about 100M float32 parameters in the tensors of 14
GPT-2-small layers (168 tensors), and the device copy bandwidth measured the same way
(ember's and torch's device-to-device copy of 100M floats), with Adam's bandwidth as a
fraction of the copy's (the issue's target: >= 0.8).

Each timed call is a full ``optimizer.step()`` (Python included) on fixed gradients;
rounds interleave ember and torch, each timing is a batch of calls between two device
synchronisations, and medians are reported. Adam moves 28 bytes per parameter (p, g,
exp_avg, exp_avg_sq read; p, exp_avg, exp_avg_sq written), a copy 8 bytes per float.

    python bench/gpu/optim.py [--rounds 5] [--json out.json]

Importing this file needs no GPU; running it does (and torch with CUDA).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: the shared harness
from _harness import (  # noqa: E402
    add_smoke_option,
    peer_device,
    peer_sync,
    smoke,
    smoke_note,
    start,
    table,
)


def _layer(d: int) -> list[int]:
    """The tensor sizes of one GPT-2 layer of width d: qkv, attention projection, two layer
    norms, MLP."""
    return [d * 3 * d, 3 * d, d * d, d, d, d, d, d, d * 4 * d, 4 * d, 4 * d * d, d]


LAYER = _layer(768)  # GPT-2 small
LAYERS = 14  # 14 * 7.08M = 99.2M parameters


def _timed(fn: Callable[[], object], sync: Callable[[], object], min_time: float) -> float:
    """Seconds per call over a batch of calls that lasts about min_time, synchronised only
    at its ends, so the host's work for one call overlaps the device's for the last (as in
    a training loop)."""
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    reps = max(3, int(min_time / max(time.perf_counter() - start, 1e-6)))
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - start) / reps


def _row(name: str, ours: list[float], peer: list[float], nbytes: float) -> dict:
    o, p = statistics.median(ours), statistics.median(peer)
    return {
        "case": name,
        "ours_ms": o * 1e3,
        "peer_ms": p * 1e3,
        "ratio": p / o,
        "throughput": nbytes / o / 1e9,
        "unit": "GB/s",
        "spread": max(ours) / min(ours),
    }


def run(rounds: int = 5, min_time: float = 0.2, layers: int = LAYERS) -> list[dict]:
    """The Adam and copy rows (harness format), then {"ember": f, "torch": f}: each one's
    Adam bandwidth as a fraction of its device copy bandwidth."""
    import torch

    import ember
    import ember.cuda
    import ember.optim

    dev = peer_device()
    if not (ember.cuda.is_available() and (dev == "cpu" or torch.cuda.is_available())):
        raise RuntimeError("bench/gpu/optim.py needs a CUDA GPU visible to ember and torch")
    sizes = smoke(LAYER * layers, _layer(32) * 2)
    n = sum(sizes)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    grads = [(rng.standard_normal(s) * 1e-2).astype(np.float32) for s in sizes]

    e_params = [ember.nn.Parameter(ember.tensor(a, device="cuda")) for a in init]
    for p, g in zip(e_params, grads):
        p.grad = ember.tensor(g, device="cuda")
    e_opt = ember.optim.Adam(e_params, lr=1e-4)
    t_params = [torch.nn.Parameter(torch.tensor(a, device=dev)) for a in init]
    for p, g in zip(t_params, grads):
        p.grad = torch.tensor(g, device=dev)
    t_opt = torch.optim.Adam(t_params, lr=1e-4, fused=True)
    del init, grads

    e_src = ember.zeros(n, device="cuda")
    e_dst = ember.empty(n, device="cuda")
    t_src = torch.zeros(n, device=dev)
    t_dst = torch.empty(n, device=dev)
    copy_kernel = ember.cuda._module().copy

    def e_sync() -> None:
        ember.cuda.synchronize()

    contenders = {
        "adam": (e_opt.step, t_opt.step),
        "copy": (lambda: copy_kernel(e_src._impl, e_dst._impl), lambda: t_dst.copy_(t_src)),
    }
    times = {k: ([], []) for k in contenders}
    for _ in range(rounds):
        for k, (ours, peer) in contenders.items():
            times[k][0].append(_timed(ours, e_sync, min_time))
            times[k][1].append(_timed(peer, peer_sync(), min_time))
    adam = _row(f"Adam step, {n / 1e6:.1f}M f32 params in {len(sizes)} tensors", *times["adam"],
                28 * n)  # fmt: skip
    copy = _row(f"device copy, {n / 1e6:.1f}M f32", *times["copy"], 8 * n)
    # each side's Adam bandwidth over its own copy bandwidth (copy: 8 B, Adam: 28 B per float)
    fraction = {
        "ember": adam["throughput"] / copy["throughput"],
        "torch": (28 * n / adam["peer_ms"]) / (8 * n / copy["peer_ms"]),
    }
    return [adam, copy, fraction]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--json", help="also write the rows to this file")
    add_smoke_option(ap)
    args = ap.parse_args()
    if args.smoke and args.json:
        ap.error("--json: a smoke run writes nothing")
    start(args.smoke)
    rows = run(1, 0.0) if args.smoke else run(args.rounds, args.min_time)
    print("## GPU fused Adam vs torch.optim.Adam(fused=True)\n")
    if args.smoke:
        print(smoke_note())
    print(table(rows[:2], "torch"))
    frac = rows[2]
    print(
        f"\nAdam bandwidth / device copy bandwidth: ember {frac['ember']:.2f}, "
        f"torch {frac['torch']:.2f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
