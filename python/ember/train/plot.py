"""The training curve: train (and eval) loss against step as a PNG (needs matplotlib,
the ``plot`` extra)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def plot_curves(records: list[dict[str, Any]], path: str | os.PathLike) -> Path | None:
    """Plot the ``loss`` and ``eval_loss`` of log records to ``path`` (written
    atomically); None without matplotlib (with a one-line notice) or without records."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print(
            "ember.train: matplotlib is not installed, skipping the training-curve plot "
            "(pip install 'ember[plot]')",
            file=sys.stderr,
        )
        return None
    if not records:
        return None
    fig = Figure(figsize=(7, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    tr = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    ev = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    if tr:
        ax.plot(*zip(*tr), label="train loss")
    if ev:
        ax.plot(*zip(*ev), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
