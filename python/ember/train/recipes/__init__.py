"""Training recipes for ``ember train <name>``.

A recipe is a module with ``DESCRIPTION`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Register one with :func:`register` (name -> module path; the
module is imported only when that recipe's parser is built), e.g.::

    register("gpt", "ember.train.recipes.gpt")

Every registered module is imported to build ``ember train``'s parser (for --help), so
keep module import light: optional packages (scikit-learn, a downloaded data set) are
loaded by ``run``. ``add_common_arguments`` gives every recipe the same core options,
and :func:`setup` / :func:`trainer_options` apply them the same way. Launched by
``mpirun``, :func:`setup` joins the MPI job (see ember.distributed).
"""

from __future__ import annotations

import argparse
import importlib
import os
from types import ModuleType
from typing import Any

from ... import distributed as dist
from ..._config import set_num_threads
from ...random import manual_seed

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
        "--steps",
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
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads (default: all; under mpirun, the cores shared among the ranks on "
        "each machine)",
    )
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


def setup(args: argparse.Namespace) -> None:
    """Join the MPI job when launched by mpirun (``ember[distributed]``), then apply
    --threads and --seed (before the model is built: it draws its weights, the same on
    every rank)."""
    if dist.launched_by_mpi() and not dist.is_initialized():
        dist.init_process_group()
    if args.threads:
        set_num_threads(args.threads)
    elif dist.is_initialized() and dist.get_local_world_size() > 1:
        # the ranks on one machine share its cores instead of each taking all of them
        set_num_threads(max(1, (os.cpu_count() or 1) // dist.get_local_world_size()))
    manual_seed(args.seed)


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """Trainer keyword arguments from the common options: --out (keeping the last two
    checkpoints), --resume and --progress (a line per evaluation when the bar is off)."""
    return {
        "out_dir": args.out,
        "keep_checkpoints": 2,
        "resume": args.resume,
        "progress": args.progress,
        "verbose": args.progress is False,
    }


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
