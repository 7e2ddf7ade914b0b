"""Interleaved ours-vs-peer timing: both run in this process, alternating over rounds,
so machine drift hits both alike; report medians, the ratio peer/ours (> 1: ember is
faster), throughput and the spread between rounds.

``--smoke`` (bench/gpu/*.py): every case at tiny sizes, one round, torch's side on the CPU
where torch has no CUDA. It checks that a script runs (on the CUDA host emulator too, which
EMBER_CUDA_EMULATOR loads as in the tests), and measures nothing."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

SMOKE = False  # set by start(); the families read it (smoke()) while they build their cases


def smoke(real, tiny):
    """A family's sizes: ``tiny`` in a smoke run, else ``real``."""
    return tiny if SMOKE else real


def peer_device() -> str:
    """Where torch's side runs: "cuda", or "cpu" in a smoke run on a torch without CUDA."""
    import torch

    return "cpu" if SMOKE and not torch.cuda.is_available() else "cuda"


def peer_sync() -> Callable[[], None]:
    """The call that waits for torch's device: torch.cuda.synchronize, or nothing on the CPU."""
    import torch

    return torch.cuda.synchronize if peer_device() == "cuda" else lambda: None


def add_smoke_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one round, torch on the CPU if it has no CUDA: checks that the "
        "script runs (EMBER_CUDA_EMULATOR: on the CUDA host emulator), measures nothing",
    )


def start(smoke_run: bool) -> None:
    """Before any case is built: smoke mode or not, and the CUDA host emulator as ember's
    _C_cuda when EMBER_CUDA_EMULATOR names one (as tests/conftest.py does)."""
    global SMOKE
    SMOKE = smoke_run
    import ember.cuda

    ember.cuda._load_emulator()


def smoke_note() -> str:
    return f"smoke run: not a measurement (tiny sizes, one round, torch on {peer_device()})\n"


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
    title: str,
    peer: str,
    make_cases: Callable[..., list[Case]],
    peer_detail: str = "",
    smoke_sizes: bool = False,
) -> None:
    """The command line every family shares: --rounds, --only (cases whose name contains
    it; make_cases must then take it), --threads, --json, and --smoke where make_cases has
    smoke sizes (``smoke_sizes``); prints the markdown section. ``peer`` names the table's
    columns, ``peer_detail`` (version, library) the header."""
    import inspect
    import os

    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--threads", type=int, help="threads for both (default: ember's)")
    parser.add_argument("--json", help="also write the rows to this file")
    if smoke_sizes:
        add_smoke_option(parser)
    args = parser.parse_args()
    if smoke_sizes and args.smoke and args.json:
        parser.error("--json: a smoke run writes nothing")
    start(smoke_sizes and args.smoke)
    import ember

    if args.threads:
        ember.set_num_threads(args.threads)
    takes_only = bool(inspect.signature(make_cases).parameters)
    if args.only and not takes_only:
        parser.error("--only is not supported by this benchmark")
    load0 = os.getloadavg()
    cases = make_cases(args.only) if takes_only else make_cases()
    rows = run(cases, rounds=1, min_time=0) if SMOKE else run(cases, rounds=args.rounds)
    load1 = os.getloadavg()
    print(f"## {title}\n")
    if SMOKE:
        print(smoke_note())
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
