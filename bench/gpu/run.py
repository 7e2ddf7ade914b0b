"""Runs every GPU benchmark family (bench/gpu/<family>.py, each with a `cases()` function)
against torch on this machine's GPU and prints one markdown table; `--out FILE` also writes
it. Families that fail to set up are reported in the table, not fatal.

    python bench/gpu/run.py [--only gemm,attention] [--out bench/results/gpu.md]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import pathlib
import platform
import sys
import traceback

import _timing

FAMILIES = ["elementwise", "reduce", "gemm", "attention", "conv", "optim", "train"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="", help="comma-separated families")
    ap.add_argument("--out", default="", help="also write the table here")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import torch

    import ember.cuda

    if not ember.cuda.is_available():
        print("no CUDA GPU: nothing to benchmark")
        return 1
    wanted = [f for f in args.only.split(",") if f] or FAMILIES
    here = pathlib.Path(__file__).parent
    rows = []
    for family in wanted:
        if not (here / f"{family}.py").exists():
            continue
        try:
            cases = importlib.import_module(family).cases()
        except Exception as e:
            traceback.print_exc()
            rows.append({"family": family, "case": "(setup)", "target": "", "error": repr(e)})
            continue
        rows += _timing.run(cases, rounds=args.rounds)
        ember.cuda.empty_cache()
        torch.cuda.empty_cache()
        print(_timing.markdown(rows[-len(cases) :]), flush=True)
    head = (
        f"GPU benchmarks, {datetime.date.today()}, {ember.cuda.get_device_name()}, "
        f"torch {torch.__version__}, Python {platform.python_version()}; ratio = torch time / "
        "ember time (above 1: ember is faster); medians of interleaved rounds.\n\n"
    )
    table = head + _timing.markdown(rows) + "\n"
    print("\n" + table)
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(table)
    return 0 if all(not r["error"] for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
