"""The best model by eval loss, and early stopping: both hinge on one test, "improved by
more than ``min_delta``", so one class owns it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..serialization import save_weights
from .ranks import is_main, unwrap

if TYPE_CHECKING:
    from .trainer import Trainer


class EarlyStopping:
    """On each scheduled evaluation: an eval loss below the best by more than
    ``min_delta`` becomes the best (``trainer.best_metric``/``best_step``, the weights in
    ``trainer.best_state`` and ``out_dir/best.safetensors``); otherwise
    ``trainer.bad_evals`` counts up, and at ``patience`` (None: never) training stops
    with ``trainer.stopped_early`` set. The counts live on the trainer: they are part of
    a checkpoint. Under MPI every rank tracks the same losses (the same weights on the
    same eval data), and rank 0 writes the file."""

    def __init__(self, patience: int | None, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta

    def update(self, trainer: Trainer, loss: float) -> None:
        """Track one evaluation's loss."""
        if trainer.best_metric is None or loss < trainer.best_metric - self.min_delta:
            trainer.best_metric, trainer.best_step, trainer.bad_evals = loss, trainer.step, 0
            model = unwrap(trainer.model)
            trainer.best_state = {
                k: np.array(np.asarray(v.cpu() if v.is_cuda else v), copy=True)
                for k, v in model.state_dict().items()
            }
            if trainer.out_dir is not None and is_main():
                save_weights(
                    trainer.out_dir / "best.safetensors",
                    model,
                    {"step": trainer.step, "eval_loss": loss},
                )
            return
        trainer.bad_evals += 1
        if self.patience is not None and trainer.bad_evals >= self.patience:
            trainer.should_stop = True
            trainer.stopped_early = True
