"""The training log: one JSON record per line (``out_dir/log.jsonl``), also kept in
``trainer.history``."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .callback import Callback, StepResult

if TYPE_CHECKING:
    from .trainer import Trainer


class JsonlLogger(Callback):
    """Every ``every`` steps (and at ``max_steps``): step, epoch, mean loss over the
    steps since the last record, lr, throughput in ``unit``/s, elapsed seconds, plus the
    eval metrics when an evaluation ran. A step that evaluated off that schedule gets a
    short record (its own loss, no throughput) with the metrics."""

    def __init__(self, path: Path | None, every: int, unit: str) -> None:
        self.path = path
        self.every = every
        self.unit = unit
        self._start_window(time.perf_counter())

    def _start_window(self, t: float) -> None:
        self._loss, self._steps, self._count, self._t = 0.0, 0, 0, t

    def on_step_end(self, trainer: Trainer, step: StepResult) -> None:
        self._loss += step.loss
        self._steps += 1
        self._count += step.count
        record: dict[str, Any] | None = None
        if step.step % self.every == 0 or step.step == trainer.max_steps:
            record = {
                "step": step.step,
                "epoch": trainer.stream.epoch,
                "loss": self._loss / self._steps,
                "lr": step.lr,
                "throughput": self._count / max(step.end - self._t, 1e-9),
                "unit": f"{self.unit}/s",
                "elapsed": round(trainer.elapsed, 4),
            }
            self._start_window(step.end)
        if step.eval is not None:
            record = record or self.short_record(trainer, step.lr)
            record.update(step.eval)
        if record is not None:
            self.write(trainer, record)

    @staticmethod
    def short_record(trainer: Trainer, lr: float) -> dict[str, Any]:
        """step, epoch, the last step's loss, lr and elapsed (a record for eval metrics)."""
        return {
            "step": trainer.step,
            "epoch": trainer.stream.epoch,
            "loss": trainer.last_loss,
            "lr": lr,
            "elapsed": round(trainer.elapsed, 4),
        }

    def write(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """Append ``record`` to ``trainer.history`` and the log file."""
        trainer.history.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def read_records(path: Path | None, history: list[dict[str, Any]], last_step: int) -> list[dict]:
    """Log records of the whole run, the last one per step, in step order: the log file
    (it spans resumes; records past ``last_step`` are from an abandoned future) and then
    ``history``."""
    records: dict[int, dict[str, Any]] = {}
    if path is not None and path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    r = json.loads(line)
                    if isinstance(r, dict) and "step" in r and r["step"] <= last_step:
                        records[int(r["step"])] = r
    for r in history:
        records[int(r["step"])] = r
    return [records[k] for k in sorted(records)]
