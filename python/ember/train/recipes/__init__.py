"""Training recipes for ``ember train <name>``.

A recipe is a module with ``DESCRIPTION`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Register one with :func:`register` (name -> module path; the
module is imported only when that recipe's parser is built), e.g.::

    register("gpt", "ember.train.recipes.gpt")

Every registered module is imported to build ``ember train``'s parser (for --help);
ember itself is loaded by then, so a recipe imports what it uses at the top. An optional
dependency (scikit-learn) stays inside the function that needs it.
``add_common_arguments`` gives every recipe the same core options.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

RECIPES: dict[str, str] = {
    "cnn": "ember.train.recipes.cnn",
    "gpt": "ember.train.recipes.gpt",
    "lstm": "ember.train.recipes.lstm",
}


def register(name: str, module: str) -> None:
    """Add (or replace) the recipe ``name`` implemented by the module ``module``."""
    RECIPES[name] = module


def load(name: str) -> ModuleType:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (available: {', '.join(sorted(RECIPES))})")
    return importlib.import_module(RECIPES[name])


def add_common_arguments(
    p: argparse.ArgumentParser,
    *,
    epochs: int | None = None,
    max_steps: int | None = None,
    lr: float,
    batch_size: int,
    out: str,
) -> None:
    """--epochs/--max-steps, --lr, --batch-size, --seed, --threads, --out, --resume,
    --progress/--no-progress."""
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=epochs,
        help=f"passes over the data (default: {epochs})",
    )
    p.add_argument(
        "--max-steps",
        type=_positive_int,
        default=max_steps,
        help="stop after this many optimizer steps"
        + (f" (default: {max_steps})" if max_steps else ""),
    )
    p.add_argument(
        "--lr", type=_positive_float, default=lr, help=f"peak learning rate (default: {lr})"
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=batch_size, help=f"default: {batch_size}"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads (default: all)")
    p.add_argument(
        "--out", default=out, metavar="DIR", help=f"checkpoints, log and plot (default: {out})"
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CHECKPOINT",
        help="continue from CHECKPOINT, or from the latest one in --out when no path is given",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when stderr is a terminal)",
    )


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v
