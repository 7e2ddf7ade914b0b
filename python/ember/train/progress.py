"""The progress bar of ``fit()`` (tqdm: loss, lr, throughput, last eval loss), and the
one place the Trainer prints notes, so they never tear the bar."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from .callback import Callback, StepResult

if TYPE_CHECKING:
    from .trainer import Trainer


def format_rate(x: float) -> str:
    """``1234567 -> '1.2M'``, ``1234 -> '1.2k'``, ``12.3 -> '12'``."""
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


class ProgressBar(Callback):
    """A tqdm bar over ``total`` steps on ``file`` (default stderr). ``enabled=None``:
    on when the file is a terminal. The throughput is an exponential moving average of
    the per-step rate, in ``unit``/s."""

    def __init__(
        self, enabled: bool | None, file: TextIO | None, unit: str, total: int | None
    ) -> None:
        self.file = file or sys.stderr
        self.enabled = enabled
        self.unit = unit
        self.total = total
        self.bar: Any = None
        self._rate: float | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        on = self.enabled
        if on is None:
            on = bool(getattr(self.file, "isatty", lambda: False)())
        if not on:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.total,
            initial=trainer.step,
            desc="train",
            unit="step",
            file=self.file,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def on_step_end(self, trainer: Trainer, step: StepResult) -> None:
        rate = step.count / max(step.seconds, 1e-9)
        self._rate = rate if self._rate is None else 0.9 * self._rate + 0.1 * rate
        if self.bar is None:
            return
        post = {
            "loss": f"{step.loss:.4f}",
            "lr": f"{step.lr:.2e}",
            f"{self.unit}/s": format_rate(self._rate),
        }
        if "eval_loss" in trainer.last_eval:
            post["eval"] = f"{trainer.last_eval['eval_loss']:.4f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def on_exit(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()

    def note(self, msg: str) -> None:
        """Print a line above the bar (or plainly when there is no bar)."""
        if self.bar is not None and not self.bar.disable:
            self.bar.write(msg, file=self.file)
        else:
            print(msg, file=self.file, flush=True)
