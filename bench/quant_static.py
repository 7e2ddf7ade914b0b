"""Static int8 quantization of the digits CNN: train it with the recipe (ember train cnn),
ember.quant.quantize_static it (min/max and percentile observers), and report the test
accuracy of fp32 vs int8, the latency per batch (same process, interleaved; the "peer"
columns are the fp32 model, ratio > 1 means int8 is faster) and a save -> ember.load
round trip (outputs must be identical).

    python bench/quant_static.py [--width 32] [--epochs 15] [--rounds 5] [--threads n]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pathlib
import tempfile
import time

import numpy as np

import ember
from _harness import Case, run, table
from ember.data.datasets import load_digits
from ember.train.recipes import cnn as recipe

BATCHES = (1, 64, 360)  # 360: the whole test set


def train(width: int, epochs: int, out: str):
    """The recipe's model, trained quietly into ``out``; loaded back from its folder."""
    p = argparse.ArgumentParser()
    recipe.add_arguments(p)
    args = p.parse_args(["--width", str(width), "--epochs", str(epochs), "--out", out])
    with contextlib.redirect_stdout(io.StringIO()):
        recipe.run(args)
    return ember.load(pathlib.Path(out) / "model")


def accuracy(model, x, y) -> float:
    with ember.no_grad():
        return float((model(x).argmax(-1).numpy() == y.numpy()).mean())


def folder_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        ember.set_num_threads(args.threads)
    digits = load_digits(seed=0)
    calibration = [digits.x_train[i : i + 128] for i in range(0, 512, 128)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fp32 = train(args.width, args.epochs, tmp)
        trained_s = time.perf_counter() - start
        acc_fp32 = accuracy(fp32, digits.x_test, digits.y_test)
        lines, int8 = [], {}
        for observer in ("minmax", "percentile"):
            int8[observer] = ember.quant.quantize_static(fp32, calibration, observer=observer)
            acc = accuracy(int8[observer], digits.x_test, digits.y_test)
            lines.append(
                f"| {observer} | {acc_fp32:.2%} | {acc:.2%} | {100 * (acc - acc_fp32):+.2f} |"
            )
        q = int8["minmax"]
        ember.save(fp32, pathlib.Path(tmp) / "fp32")
        ember.save(q, pathlib.Path(tmp) / "int8")
        back = ember.load(pathlib.Path(tmp) / "int8")
        with ember.no_grad():
            same = np.array_equal(back(digits.x_test).numpy(), q(digits.x_test).numpy())
        sizes = [folder_bytes(pathlib.Path(tmp) / n) for n in ("fp32", "int8")]

    def forward(model, x):
        def call() -> None:
            with ember.no_grad():
                model(x)

        return call

    cases = []
    for b in BATCHES:
        x = digits.x_test[:b]
        cases.append(Case(f"batch {b}", forward(q, x), forward(fp32, x), b, "img/s"))
    load0 = os.getloadavg()
    rows = run(cases, rounds=args.rounds)
    for r in rows:  # throughput in images/s, not billions
        r["throughput"] *= 1e9
        r["unit"] = "img/s"
    load1 = os.getloadavg()
    print("## Static int8 quantization: digits CNN (quantize_static)\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, ember ISA {ember._C.get_isa()}, "
        f"{ember.get_num_threads()} threads; DigitsCNN width {args.width}, trained "
        f"{args.epochs} epochs with the cnn recipe in {trained_s:.1f} s; calibration "
        f"512 training images; load average before {load0[0]:.2f}, after {load1[0]:.2f}\n"
    )
    print("| observer | fp32 test accuracy | int8 test accuracy | delta (points) |")
    print("|---|---:|---:|---:|")
    print("\n".join(lines))
    print(
        f"\nsave -> ember.load round trip: outputs identical: {same}; model folder "
        f"{sizes[0] / 1024:.1f} KiB fp32 -> {sizes[1] / 1024:.1f} KiB int8\n"
    )
    print(table(rows, "fp32"))


if __name__ == "__main__":
    main()
