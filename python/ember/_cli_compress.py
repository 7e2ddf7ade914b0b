"""The bodies of ``ember prune`` and ``ember quantize``: load a model folder, compress it,
save the result as a model folder, and report what it bought and what it cost: the
weights file's size before/after, the forward speedup on the model's own sample input
and, when the model has an eval set (the recipes' models do), the quality delta.

Sample inputs and eval sets per architecture:
- GPT: a batch of random tokens from its vocabulary; a character model trained on
  tinyshakespeare is scored by its validation loss on the val split;
- DigitsCNN: a batch of the digits test split, scored by its test accuracy.
Other architectures are compressed and saved, with the measurements they lack skipped.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import prune, quant
from .autograd.grad_mode import no_grad
from .data.datasets import load_digits, tinyshakespeare
from .models.cnn import DigitsCNN
from .models.folder import WEIGHTS, load_model, save_model
from .models.gpt import GPT
from .ops.qgemm import int8_path
from .prune.structured import TARGETS as PRUNE_TARGETS
from .random import Generator, randint
from .train.recipes._charlm import validation_loss

SAMPLE_BATCH = 8
EVAL_BATCHES = 50  # validation windows for a character GPT's loss
METHODS = ("dynamic", "static", "q8_0", "q4_0")
CALIBRATION_BATCHES = 8


@dataclass
class Probe:
    """What the report measures a model with: ``sample()`` its forward input,
    ``score(model)`` its quality (a name and a value) or None when it has no eval set,
    ``calibration()`` input batches for static quantization."""

    sample: Callable[[], Any]
    score: Callable[[Any], tuple[str, float] | None]
    calibration: Callable[[], list[Any]]


def _gpt_probe(model: GPT, doc: dict) -> Probe:
    cfg = model.config
    tok = doc.get("tokenizer") or {}
    val = tinyshakespeare("val", block_size=cfg.block_size)
    trained_on_it = tok.get("type") == "char" and tok.get("itos") == list(val.itos)

    def tokens(seed: int) -> Any:
        return randint(
            0,
            cfg.vocab_size,
            (SAMPLE_BATCH, cfg.block_size),
            generator=Generator().manual_seed(seed),
        )

    def score(m: GPT) -> tuple[str, float] | None:
        if not trained_on_it:
            return None
        return "validation loss", validation_loss(m, val, EVAL_BATCHES, 12, seed=1234)

    return Probe(
        lambda: tokens(0), score, lambda: [tokens(1 + i) for i in range(CALIBRATION_BATCHES)]
    )


def _digits_probe(model: DigitsCNN, doc: dict) -> Probe:
    digits = load_digits(seed=int((doc.get("meta") or {}).get("seed", 0)))

    def score(m: DigitsCNN) -> tuple[str, float]:
        with no_grad():
            predicted = np.asarray(m(digits.x_test).argmax(-1))
        return "test accuracy", float((predicted == np.asarray(digits.y_test)).mean())

    train = digits.x_train
    return Probe(
        lambda: digits.x_test[:64],
        score,
        lambda: [train[i : i + 64] for i in range(0, 64 * CALIBRATION_BATCHES, 64)],
    )


PROBES: dict[type, Callable[[Any, dict], Probe]] = {GPT: _gpt_probe, DigitsCNN: _digits_probe}


def _forward_ms(models: list[Any], x: Any, rounds: int = 7) -> list[float]:
    """Median ms per forward pass of each model on ``x``, alternating every round."""
    times: list[list[float]] = [[] for _ in models]
    with no_grad():
        for r in range(rounds + 1):
            for i, m in enumerate(models):
                start = time.perf_counter()
                m(x)
                if r:  # round 0 warms up
                    times[i].append(1000 * (time.perf_counter() - start))
    return [statistics.median(t) for t in times]


def _report(before: Any, after: Any, doc: dict, src: Path, dst: Path) -> None:
    a, b = os.path.getsize(src / WEIGHTS), os.path.getsize(dst / WEIGHTS)
    print(f"size: {a:,} -> {b:,} bytes of {WEIGHTS} ({a / b:.2f}x smaller)")
    make = PROBES.get(type(before))
    if make is None:
        print(f"speed, quality: no sample input or eval set for {type(before).__name__}")
        return
    probe = make(before, doc)
    x = probe.sample()
    ms = _forward_ms([before, after], x)
    print(
        f"forward on a sample batch {tuple(x.shape)}: {ms[0]:.2f} -> {ms[1]:.2f} ms "
        f"({ms[0] / ms[1]:.2f}x)"
    )
    s0, s1 = probe.score(before), probe.score(after)
    if s0 is None or s1 is None:
        print("quality: no eval set for this model")
        return
    (name, v0), (_, v1) = s0, s1
    print(f"{name}: {v0:.4f} -> {v1:.4f} ({v1 - v0:+.4f})")


def _save(model: Any, doc: dict, out: str, what: dict) -> Path:
    meta = dict(doc.get("meta") or {})
    meta["compressed"] = [*meta.get("compressed", []), what]  # the steps, in order
    return save_model(model, out, tokenizer=doc.get("tokenizer"), meta=meta)


# ---- ember prune --------------------------------------------------------------------------
def prune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN_FOLDER", help="a model folder")
    p.add_argument("output", metavar="OUT_FOLDER", help="where the pruned model folder goes")
    p.add_argument(
        "--amount", type=float, default=0.5, help="fraction to remove, in [0, 1] (default: 0.5)"
    )
    p.add_argument(
        "--structured",
        action="store_true",
        help="remove whole neurons / channels / heads (smaller and faster) instead of "
        "zeroing the smallest weights (magnitude pruning: same size and speed)",
    )
    p.add_argument(
        "--target",
        choices=PRUNE_TARGETS,
        default="neurons",
        help="with --structured: what to remove (default: neurons)",
    )
    p.add_argument(
        "--dim",
        type=int,
        choices=(0, 1),
        default=0,
        help="with --structured: "
        "rank by the producer's rows (0, default) or the consumer's columns (1)",
    )


def prune_command(args: argparse.Namespace) -> int:
    if not 0.0 <= args.amount < 1.0:
        raise ValueError(f"--amount must be in [0, 1), got {args.amount}")
    src = Path(args.input)
    model, doc = load_model(src)
    pruned = copy.deepcopy(model)
    if args.structured:
        try:
            prune.structured(pruned, args.amount, args.dim, target=args.target)
        except TypeError as e:  # a model with nothing to shrink: the folder's, not a bug
            raise ValueError(str(e)) from None
        what = {"prune": "structured", "amount": args.amount, "target": args.target}
    else:
        prune.remove(prune.magnitude(pruned, args.amount))
        what = {"prune": "magnitude", "amount": args.amount}
    dst = _save(pruned, doc, args.output, what)
    print(f"ember prune: {what} -> {dst}")
    _report(model, pruned, doc, src, dst)
    return 0


# ---- ember quantize -----------------------------------------------------------------------
def quantize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN_FOLDER", help="a model folder")
    p.add_argument("output", metavar="OUT_FOLDER", help="where the quantized model folder goes")
    p.add_argument(
        "--method",
        choices=METHODS,
        required=True,
        help="dynamic: int8 Linear layers; static: int8 Conv2d/Linear calibrated on the "
        "model's sample data; q8_0 / q4_0: weight-only block quantization",
    )


def quantize_command(args: argparse.Namespace) -> int:
    src = Path(args.input)
    model, doc = load_model(src)
    if args.method == "dynamic":
        qmodel = quant.quantize_dynamic(model)
    elif args.method == "static":
        make = PROBES.get(type(model))
        if make is None:
            raise ValueError(
                f"--method static needs calibration data, and there is none for "
                f"{type(model).__name__} (there is for {', '.join(c.__name__ for c in PROBES)})"
            )
        qmodel = quant.quantize_static(model, make(model, doc).calibration())
    else:
        qmodel = quant.quantize_weights(model, scheme=args.method)
    dst = _save(qmodel, doc, args.output, {"quantize": args.method})
    print(f"ember quantize: {args.method} -> {dst}")
    if args.method in ("dynamic", "static"):
        print(f"int8 GEMM kernels: {int8_path()}")
    _report(model, qmodel, doc, src, dst)
    return 0
