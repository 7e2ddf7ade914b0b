"""Evaluation: one pass over eval data (:func:`evaluate`), and when the loop runs it
(:class:`Evaluator`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .batches import move_batch
from .early_stopping import EarlyStopping

if TYPE_CHECKING:
    from .trainer import Trainer


def evaluate(
    model: Any,
    data: Any,
    steps: int | None,
    *,
    loss: Callable[[Any], Tensor],
    count: Callable[[Any], int],
    metric_fn: Callable[[Any, Any], Any] | None = None,
    device: Any = None,
) -> dict[str, float]:
    """Mean ``loss(batch)`` (and ``metric_fn(model, batch)``) over up to ``steps``
    batches of ``data`` (an iterable, or a callable returning a batch), weighted by
    ``count(batch)``, in eval mode without gradients. Returns ``{"eval_loss": ...,
    "eval_<metric>": ...}`` (``eval_metric`` for a float metric)."""
    was_training = getattr(model, "training", True)
    model.eval()
    totals: dict[str, float] = {}
    weight = 0
    try:
        with no_grad():
            source = iter(data) if hasattr(data, "__iter__") else None
            k = 0
            while steps is None or k < steps:
                if source is None:
                    batch = data()
                else:
                    try:
                        batch = next(source)
                    except StopIteration:
                        break
                k += 1
                if device is not None:
                    batch = move_batch(batch, device)
                n = count(batch)
                vals = {"eval_loss": float(loss(batch).item())}
                if metric_fn is not None:
                    m = metric_fn(model, batch)
                    if isinstance(m, dict):
                        vals.update({f"eval_{key}": float(v) for key, v in m.items()})
                    else:
                        vals["eval_metric"] = float(m)
                for key, v in vals.items():
                    totals[key] = totals.get(key, 0.0) + v * n
                weight += n
            close = getattr(source, "close", None)
            if close is not None:
                close()
    finally:
        model.train(was_training)
    if weight == 0:
        raise ValueError("ember.train.Trainer.evaluate: the eval data gave no batches")
    return {key: v / weight for key, v in totals.items()}


class Evaluator:
    """Evaluates ``trainer.eval_data`` after every ``every``-th step and after the last
    one (``max_steps``), and at the end of fit() when the last step did not. Scheduled
    evaluations feed ``early_stopping``; an extra one (off the schedule) only reports and
    puts the eval data's position back, so a run cut short and resumed matches a
    straight one. ``note`` prints a line per evaluation (None: quiet)."""

    def __init__(
        self,
        data: Any,
        every: int | None,
        early_stopping: EarlyStopping,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.data = data
        self.every = every
        self.early_stopping = early_stopping
        self.note = note

    def after_step(self, trainer: Trainer) -> dict[str, float] | None:
        """The metrics when this step is due for an evaluation, else None."""
        last = trainer.max_steps is not None and trainer.step >= trainer.max_steps
        scheduled = bool(self.every) and trainer.step % self.every == 0
        if self.data is None or not (scheduled or last):
            return None
        return self._run(trainer, track=scheduled or not self.every)

    def at_end(self, trainer: Trainer) -> dict[str, float] | None:
        """The metrics of a last evaluation when the last step had none (and training
        did not stop early), else None."""
        h = trainer.history
        evaluated = bool(h) and h[-1].get("step") == trainer.step and "eval_loss" in h[-1]
        if self.data is None or trainer.step == 0 or evaluated or trainer.stopped_early:
            return None
        return self._run(trainer, track=not self.every)

    def _run(self, trainer: Trainer, track: bool) -> dict[str, float]:
        saved = None
        if not track and hasattr(self.data, "state_dict"):
            saved = self.data.state_dict()
        metrics = trainer.evaluate(self.data)
        if saved is not None:
            self.data.load_state_dict(saved)
        trainer.last_eval = metrics
        if track:
            self.early_stopping.update(trainer, metrics["eval_loss"])
        if self.note is not None:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            self.note(f"step {trainer.step}: {shown}")
        return metrics
