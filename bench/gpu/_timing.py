"""Timing for the GPU benchmarks (bench/gpu): ember and torch on one CUDA device, in one
process, alternating over rounds; each timing is a batch of calls between two device
synchronisations, the first call of a batch a warm-up. Medians, ratio torch / ember (above
1: ember is faster), throughput, and the spread of ember's rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class GpuCase:
    family: str
    name: str
    ours: Callable[[], object]
    peer: Callable[[], object] | None
    work: float  # FLOPs or bytes per call
    unit: str = "TFLOP/s"  # or "GB/s"
    target: str = ""  # the target for the ratio, e.g. ">= 0.7"


def _sync() -> None:
    import ember.cuda

    ember.cuda.synchronize()
    try:
        import torch

        torch.cuda.synchronize()
    except Exception:  # torch without CUDA: ember's sync covers the device
        pass


def _batch(fn: Callable[[], object], min_time: float) -> float:
    fn()
    _sync()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < min_time:
        fn()
        n += 1
    _sync()
    return (time.perf_counter() - start) / n


def run(cases: list[GpuCase], rounds: int = 5, min_time: float = 0.02) -> list[dict]:
    """Time every case; a case whose ember call raises is reported, not fatal."""
    rows = []
    for c in cases:
        ours, peer, error = [], [], ""
        try:
            for _ in range(rounds):
                ours.append(_batch(c.ours, min_time))
                if c.peer is not None:
                    peer.append(_batch(c.peer, min_time))
        except Exception as e:  # a failing family must not hide the others' numbers
            error = f"{type(e).__name__}: {e}"[:120]
        row = {"family": c.family, "case": c.name, "target": c.target, "error": error}
        if ours and not error:
            o = statistics.median(ours)
            row.update(ours_ms=o * 1e3, rate=c.work / o / (1e12 if c.unit == "TFLOP/s" else 1e9))
            row["unit"] = c.unit
            row["spread"] = max(ours) / min(ours)
            if peer:
                p = statistics.median(peer)
                row.update(peer_ms=p * 1e3, ratio=p / o)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """One table: family, case, ember ms, torch ms, ratio, ember throughput, target."""
    out = [
        "| family | case | ember ms | torch ms | ratio (torch/ember) | ember rate | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["error"]:
            out.append(f"| {r['family']} | {r['case']} | FAILED: {r['error']} | | | | |")
            continue
        peer = f"{r['peer_ms']:.3f}" if "peer_ms" in r else "-"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        out.append(
            f"| {r['family']} | {r['case']} | {r['ours_ms']:.3f} | {peer} | {ratio} | "
            f"{r['rate']:.1f} {r['unit']} | {r['target']} |"
        )
    return "\n".join(out)
