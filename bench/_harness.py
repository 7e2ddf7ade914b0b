"""Interleaved ours-vs-peer timing: both run in this process, alternating over rounds,
so machine drift hits both alike; report medians, the ratio peer/ours (> 1: ember is
faster), throughput and the spread between rounds."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Case:
    name: str
    ours: Callable[[], object]
    peer: Callable[[], object]
    work: float  # bytes moved or FLOPs per call
    unit: str = "GB/s"  # or "GFLOP/s"


def _time(fn: Callable[[], object], min_time: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n


def run(cases: list[Case], rounds: int = 5, min_time: float = 0.05) -> list[dict]:
    rows = []
    for c in cases:
        ours, peer = [], []
        for _ in range(rounds):
            ours.append(_time(c.ours, min_time))
            peer.append(_time(c.peer, min_time))
        o, p = statistics.median(ours), statistics.median(peer)
        rows.append(
            {
                "case": c.name,
                "ours_ms": o * 1e3,
                "peer_ms": p * 1e3,
                "ratio": p / o,
                "throughput": c.work / o / 1e9,
                "unit": c.unit,
                "spread": max(ours) / min(ours),
            }
        )
    return rows


def table(rows: list[dict], peer: str) -> str:
    head = f"| case | ember ms | {peer} ms | ratio ({peer}/ember) | ember throughput | spread |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['ours_ms']:.3f} | {r['peer_ms']:.3f} | {r['ratio']:.2f} | "
            f"{r['throughput']:.1f} {r['unit']} | {r['spread']:.2f} |"
        )
    return "\n".join(lines)


def main(
    title: str, peer: str, make_cases: Callable[..., list[Case]], peer_detail: str = ""
) -> None:
    """The command line every family shares: --rounds, --only (cases whose name contains
    it; make_cases must then take it), --threads, --json; prints the markdown section.
    ``peer`` names the table's columns, ``peer_detail`` (version, library) the header."""
    import inspect
    import os

    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--threads", type=int, help="threads for both (default: ember's)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    import ember

    if args.threads:
        ember.set_num_threads(args.threads)
    takes_only = bool(inspect.signature(make_cases).parameters)
    if args.only and not takes_only:
        parser.error("--only is not supported by this benchmark")
    load0 = os.getloadavg()
    rows = run(make_cases(args.only) if takes_only else make_cases(), rounds=args.rounds)
    load1 = os.getloadavg()
    print(f"## {title}\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, ember ISA "
        f"{ember._C.get_isa()}, {ember.get_num_threads()} threads, peer "
        f"{peer_detail or peer}; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"load average before {load0[0]:.2f}, after {load1[0]:.2f}\n"
    )
    print(table(rows, peer))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"title": title, "peer": peer, "rows": rows}, f, indent=1)
