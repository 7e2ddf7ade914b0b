"""Callbacks: what runs around the Trainer's loop. The loop calls, in order,
``on_fit_start`` once, ``on_step_end`` after every optimizer step, ``on_fit_end`` when
it ends normally (not on Ctrl-C) and ``on_exit`` always, last. The Trainer's own parts
(log, checkpoints, progress bar) are callbacks too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trainer import Trainer


@dataclass
class StepResult:
    """What one optimizer step did.

    Attributes:
        step: the step count after this step.
        loss: the mean loss over the step's micro-batches.
        lr: the learning rate the update used (before the scheduler stepped).
        count: samples (or tokens) in the step, for the throughput.
        seconds: wall time of the step.
        end: ``time.perf_counter()`` when the update finished.
        eval: the metrics of the evaluation that ran after this step, else None.
    """

    step: int
    loss: float
    lr: float
    count: int
    seconds: float
    end: float
    eval: dict[str, float] | None = None


class Callback:
    """Base class: override the hooks you need (each does nothing by default). Set
    ``trainer.should_stop = True`` in a hook to end training after the current step."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first step of ``fit()`` (after a resume)."""

    def on_step_end(self, trainer: Trainer, step: StepResult) -> None:
        """After every optimizer step (and its evaluation, when one ran)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the loop ended normally (max_steps, data exhausted, early stop)."""

    def on_exit(self, trainer: Trainer) -> None:
        """Last, whether fit() ends normally or by an exception: release resources."""


class FunctionCallback(Callback):
    """A plain ``fn(trainer)`` called after every optimizer step."""

    def __init__(self, fn: Callable[[Trainer], Any]) -> None:
        self.fn = fn

    def on_step_end(self, trainer: Trainer, step: StepResult) -> None:
        self.fn(trainer)


def as_callback(cb: Callback | Callable[[Trainer], Any]) -> Callback:
    """``cb`` itself when it is a :class:`Callback`, else ``cb(trainer)`` per step."""
    return cb if isinstance(cb, Callback) else FunctionCallback(cb)
