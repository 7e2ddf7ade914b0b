"""Trainer: the common training loop, with evaluation, logging, checkpoints and an
exact resume.

>>> trainer = Trainer(model, opt, DataLoader(ds, 64, shuffle=True), criterion=loss,
...                   epochs=10, eval_data=val_loader, out_dir="runs/cnn",
...                   checkpoint_every=100)
>>> result = trainer.fit()

Resume (``resume=True`` or a checkpoint path) continues bit-exactly: the checkpoint
holds the model, optimizer and scheduler state, ember's global RNG, numpy's and
Python's global RNGs, the data order and position (DataLoader / any data object with
``state_dict``), the step and the best metric, so N steps + resume + N steps gives the
same weights, bit for bit, as 2N steps straight.

Ctrl-C: the first one lets the current step finish, then the Trainer saves a checkpoint
(when ``out_dir`` is set), prints where, and RE-RAISES KeyboardInterrupt, so scripts stop
as usual (``trainer.interrupt_checkpoint`` holds the path); resuming from it is exact. A
second Ctrl-C, or a KeyboardInterrupt raised by user code (loss_fn, a callback), stops
at once: mid-step, the partial step is dropped and the model, optimizer, ember RNG and
data position of the step's start are saved (numpy's and Python's global RNGs are saved
as they are, which only matters if the step itself drew from them).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..autograd.grad_mode import no_grad
from ..random import default_generator
from ..tensor import Tensor
from . import checkpoint as ckpt

__all__ = ["Trainer", "fit", "latest_checkpoint"]

_CKPT_PREFIX = "step_"
_CKPT_SUFFIX = ".safetensors"


class _Exhausted(Exception):
    """The training data ran out (all epochs done)."""


class _Stream:
    """Training batches from a DataLoader / iterable (epoch by epoch, up to ``epochs``
    passes) or a callable (one batch per call), with a resumable position."""

    def __init__(self, data: Any, epochs: int | None) -> None:
        self.data = data
        self.epochs = epochs
        self.is_iterable = hasattr(data, "__iter__")
        if not self.is_iterable and not callable(data):
            raise TypeError(
                "ember.train.Trainer: train_data must be a DataLoader, an iterable of batches "
                f"or a callable returning the next batch, got {type(data).__name__}"
            )
        self.epoch = 0
        self.pos = 0
        self._it: Any = None
        self._skip = 0

    def next(self) -> Any:
        if not self.is_iterable:
            self.pos += 1
            return self.data()
        empty_epochs = 0
        while True:
            if self.epochs is not None and self.epoch >= self.epochs:
                raise _Exhausted
            if self._it is None:
                self._it = iter(self.data)
                for _ in range(self._skip):  # resume for iterables without state_dict
                    next(self._it)
                self._skip = 0
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                if self.pos == 0:
                    empty_epochs += 1
                    if empty_epochs > 1 or self.epochs is None:
                        raise _Exhausted from None
                self.epoch += 1
                self.pos = 0
                continue
            self.pos += 1
            return batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": self.epoch, "pos": self.pos}
        if hasattr(self.data, "state_dict"):
            state["data"] = self.data.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._it = None
        if "data" in state and hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state["data"])
            self._skip = 0
        else:
            self._skip = self.pos if self.is_iterable else 0

    def close(self) -> None:
        """Drop the current iterator (a DataLoader epoch counts as abandoned)."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        self._it = None

    def park(self) -> None:
        """Release the iterator (and a prefetch thread) but keep the exact position, so
        a later fit() continues where this one stopped."""
        if self._it is not None:
            state = self.state_dict()
            self.close()
            self.load_state_dict(state)


def _rng_state() -> dict[str, Any]:
    from ..random import get_rng_state

    return {
        "ember": list(get_rng_state()),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    from ..random import set_rng_state

    set_rng_state(tuple(state["ember"]))
    if "numpy" in state:
        np.random.set_state(tuple(state["numpy"]))
    if "python" in state:
        v, internal, gauss = state["python"]
        random.setstate((v, tuple(internal), gauss))


def _first_tensor(batch: Any) -> Any:
    if isinstance(batch, (Tensor, np.ndarray)):
        return batch
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for b in batch:
            t = _first_tensor(b)
            if t is not None:
                return t
    return None


def _default_count(batch: Any) -> int:
    t = _first_tensor(batch)
    return int(t.shape[0]) if t is not None and len(t.shape) else 1


def _move(batch: Any, device: Any) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_move(b, device) for b in batch)
    return batch


def _fmt_rate(x: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step in ``directory`` (None when there is none)."""
    d = Path(directory)
    if not d.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for p in d.glob(f"{_CKPT_PREFIX}*{_CKPT_SUFFIX}"):
        digits = p.name[len(_CKPT_PREFIX) : -len(_CKPT_SUFFIX)]
        if digits.isdigit() and (best is None or int(digits) > best[0]):
            best = (int(digits), p)
    return best[1] if best else None


class Trainer:
    """Train ``model`` with ``optimizer`` on ``train_data``.

    Args:
        model: an ``ember.nn.Module``.
        optimizer: an ``ember.optim`` optimizer over the model's parameters.
        train_data: a DataLoader (resumable), any iterable of batches (re-iterated per
            epoch), or a callable returning the next batch (e.g. a data set's
            ``batches(batch_size)`` sampler).
        loss_fn: ``loss_fn(model, batch) -> scalar loss tensor``. Default:
            ``criterion(model(x), y)`` for ``batch = (x, y)``.
        criterion: ``criterion(output, target) -> loss`` for the default loss_fn.
        scheduler: an LR scheduler, stepped once per optimizer step.
        epochs: passes over iterable train_data (None: until ``max_steps``).
        max_steps: optimizer steps to run (a resumed run counts from its checkpoint).
        grad_accum_steps: micro-batches per optimizer step (losses scaled by 1/k).
        clip_grad_norm: clip the global gradient 2-norm to this (None: off).
        eval_data, eval_every, eval_steps: evaluate every ``eval_every`` steps (and at
            the end) on up to ``eval_steps`` batches of eval_data (all of a finite
            iterable when None; required for callables).
        metric_fn: ``metric_fn(model, batch) -> float | dict[str, float]`` averaged over
            eval batches (weighted by batch size), logged as ``eval_<name>``
            (``eval_metric`` for a float).
        log_every: write a JSONL record every N steps (``out_dir/log.jsonl`` or
            ``log_file``): step, epoch, loss, lr, throughput, unit, elapsed and eval
            metrics when an evaluation ran.
        out_dir: where checkpoints (``checkpoints/step_*.safetensors``), the best
            weights (``best.safetensors``), the log and the training-curve PNG go.
        checkpoint_every, keep_checkpoints: checkpoint every N steps, keeping the last
            k files (a final checkpoint is always written when out_dir is set).
        resume: a checkpoint path, or True for the latest in ``out_dir/checkpoints``
            (a fresh start when there is none).
        early_stopping_patience: stop after this many evaluations without an
            improvement of the eval loss by more than ``min_delta``.
        progress: a tqdm bar (loss, lr, throughput); None: on when ``progress_file``
            (default stderr) is a terminal.
        batch_size_fn, tokens_per_batch, unit: throughput accounting. Default: the first
            dimension of the batch's first tensor, in samples/s; ``tokens_per_batch``
            counts that many tokens per micro-batch (tokens/s).
        plot: write ``out_dir/training_curve.png`` at the end (needs matplotlib, the
            ``plot`` extra; skipped with a one-line notice without it).
        callbacks: ``cb(trainer)`` after every optimizer step; set
            ``trainer.should_stop = True`` to end training.
        device: move every batch to this device.
        verbose: print one line per evaluation (useful when the bar is off).
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        train_data: Any,
        *,
        loss_fn: Callable[[Any, Any], Tensor] | None = None,
        criterion: Callable[[Any, Any], Tensor] | None = None,
        scheduler: Any = None,
        epochs: int | None = None,
        max_steps: int | None = None,
        grad_accum_steps: int = 1,
        clip_grad_norm: float | None = None,
        eval_data: Any = None,
        eval_every: int | None = None,
        eval_steps: int | None = None,
        metric_fn: Callable[[Any, Any], Any] | None = None,
        log_every: int = 10,
        log_file: str | os.PathLike | None = None,
        out_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 3,
        resume: bool | str | os.PathLike | None = None,
        early_stopping_patience: int | None = None,
        min_delta: float = 0.0,
        progress: bool | None = None,
        progress_file: TextIO | None = None,
        batch_size_fn: Callable[[Any], int] | None = None,
        tokens_per_batch: int | None = None,
        unit: str | None = None,
        plot: bool = True,
        callbacks: Iterable[Callable[[Trainer], Any]] = (),
        device: Any = None,
        verbose: bool = False,
    ) -> None:
        name = "ember.train.Trainer"

        def positive(value: Any, what: str, allow_none: bool = True) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: {what} must be a positive int, got {value!r}")

        positive(epochs, "epochs")
        positive(max_steps, "max_steps")
        positive(grad_accum_steps, "grad_accum_steps", allow_none=False)
        positive(eval_every, "eval_every")
        positive(eval_steps, "eval_steps")
        positive(log_every, "log_every", allow_none=False)
        positive(checkpoint_every, "checkpoint_every")
        positive(keep_checkpoints, "keep_checkpoints", allow_none=False)
        positive(early_stopping_patience, "early_stopping_patience")
        positive(tokens_per_batch, "tokens_per_batch")
        if epochs is None and max_steps is None and not hasattr(train_data, "__len__"):
            raise ValueError(f"{name}: give epochs or max_steps")
        if loss_fn is None and criterion is None:
            raise ValueError(f"{name}: give loss_fn(model, batch) or criterion(output, target)")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"{name}: clip_grad_norm must be > 0, got {clip_grad_norm!r}")
        if eval_data is not None and eval_steps is None and not hasattr(eval_data, "__iter__"):
            raise ValueError(f"{name}: a callable eval_data needs eval_steps")
        if (checkpoint_every or resume) and out_dir is None and not isinstance(resume, (str, Path)):
            raise ValueError(f"{name}: checkpoints and resume=True need out_dir")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_data = train_data
        self.loss_fn = loss_fn
        self.criterion = criterion
        self.epochs = epochs if (epochs is not None or max_steps is not None) else 1
        self.max_steps = max_steps
        self.grad_accum_steps = grad_accum_steps
        self.clip_grad_norm = clip_grad_norm
        self.eval_data = eval_data
        self.eval_every = eval_every
        self.eval_steps = eval_steps
        self.metric_fn = metric_fn
        self.log_every = log_every
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.log_file = (
            Path(log_file)
            if log_file is not None
            else (self.out_dir / "log.jsonl" if self.out_dir else None)
        )
        self.checkpoint_dir = self.out_dir / "checkpoints" if self.out_dir else None
        self.checkpoint_every = checkpoint_every
        self.keep_checkpoints = keep_checkpoints
        self.resume = resume
        self.patience = early_stopping_patience
        self.min_delta = float(min_delta)
        self.progress_file = progress_file
        self.progress = progress
        self.batch_size_fn = batch_size_fn
        self.tokens_per_batch = tokens_per_batch
        self.unit = unit or ("tokens" if tokens_per_batch else "samples")
        self.plot = plot
        self.callbacks = list(callbacks)
        self.device = device
        self.verbose = verbose

        self.step = 0
        self.elapsed = 0.0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.bad_evals = 0
        self.should_stop = False
        self.stopped_early = False
        self.last_loss: float | None = None
        self.last_eval: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.interrupt_checkpoint: Path | None = None
        self.last_checkpoint: Path | None = None
        self._stream = _Stream(train_data, self.epochs)
        self._critical = False
        self._pending_interrupt = False
        self._resumed_from: Path | None = None

    # ---- pieces --------------------------------------------------------------------------
    def compute_loss(self, batch: Any) -> Tensor:
        if self.loss_fn is not None:
            return self.loss_fn(self.model, batch)
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(
                "ember.train.Trainer: the default loss needs (input, target) batches; give "
                "loss_fn(model, batch) for other batch layouts"
            )
        x, y = batch
        return self.criterion(self.model(x), y)

    def _count(self, batch: Any) -> int:
        if self.tokens_per_batch:
            return self.tokens_per_batch
        if self.batch_size_fn is not None:
            return int(self.batch_size_fn(batch))
        return _default_count(batch)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def evaluate(self, data: Any = None, steps: int | None = None) -> dict[str, float]:
        """Mean loss (and metrics) over eval data, in eval mode without gradients.
        Returns ``{"eval_loss": ..., "eval_<metric>": ...}`` (weighted by batch size)."""
        data = self.eval_data if data is None else data
        steps = self.eval_steps if steps is None else steps
        if data is None:
            raise ValueError("ember.train.Trainer.evaluate: no eval data")
        was_training = getattr(self.model, "training", True)
        self.model.eval()
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
                    if self.device is not None:
                        batch = _move(batch, self.device)
                    n = _default_count(batch) if self.batch_size_fn is None else self._count(batch)
                    vals = {"eval_loss": float(self.compute_loss(batch).item())}
                    if self.metric_fn is not None:
                        m = self.metric_fn(self.model, batch)
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
            self.model.train(was_training)
        if weight == 0:
            raise ValueError("ember.train.Trainer.evaluate: the eval data gave no batches")
        return {key: v / weight for key, v in totals.items()}

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, metadata) of a checkpoint of the current state."""
        tensors: dict[str, Any] = {}
        for k, v in self.model.state_dict().items():
            tensors[f"model.{k}"] = v
        osd = self.optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entries in osd["state"].items():
            for key, v in entries.items():
                if isinstance(v, Tensor):
                    tensors[f"optim.{idx}.{key}"] = v
                else:
                    scalars.setdefault(str(idx), {})[key] = v
        meta: dict[str, Any] = {
            "step": self.step,
            "elapsed": self.elapsed,
            "optimizer": {
                "type": type(self.optimizer).__name__,
                "param_groups": osd["param_groups"],
                "scalars": scalars,
            },
            "rng": _rng_state(),
            "train_data": self._stream.state_dict(),
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "last_eval": self.last_eval,
        }
        if self.scheduler is not None:
            sd = self.scheduler.state_dict()
            meta["scheduler"] = {
                "type": type(self.scheduler).__name__,
                "state": {k: v for k, v in sd.items() if not callable(v)},
            }
        if self.eval_data is not None and hasattr(self.eval_data, "state_dict"):
            meta["eval_data"] = self.eval_data.state_dict()
        return tensors, meta

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write a checkpoint atomically (default: ``out_dir/checkpoints/step_N``) and
        prune old ones down to ``keep_checkpoints``."""
        if path is None:
            if self.checkpoint_dir is None:
                raise ValueError("ember.train.Trainer.save_checkpoint: no out_dir and no path")
            path = self.checkpoint_dir / f"{_CKPT_PREFIX}{self.step:08d}{_CKPT_SUFFIX}"
        tensors, meta = self.state()
        path = ckpt.save_file(path, tensors, meta)
        self.last_checkpoint = path
        if self.checkpoint_dir is not None and path.parent == self.checkpoint_dir:
            found = sorted(self.checkpoint_dir.glob(f"{_CKPT_PREFIX}*{_CKPT_SUFFIX}"))
            for old in found[: max(0, len(found) - self.keep_checkpoints)]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore everything :meth:`save_checkpoint` wrote."""
        from ..ops.creation import from_numpy

        arrays, meta = ckpt.load_file(path)
        model_sd = {
            k[len("model.") :]: from_numpy(np.require(v, requirements="C"))
            for k, v in arrays.items()
            if k.startswith("model.")
        }
        self.model.load_state_dict(model_sd)
        om = meta["optimizer"]
        if om["type"] != type(self.optimizer).__name__:
            raise ValueError(
                f"ember.train: {path} holds a {om['type']} state, but the optimizer is a "
                f"{type(self.optimizer).__name__}"
            )
        state: dict[int, dict[str, Any]] = {}
        for k, v in arrays.items():
            if k.startswith("optim."):
                _, idx, key = k.split(".", 2)
                state.setdefault(int(idx), {})[key] = from_numpy(np.require(v, requirements="C"))
        for idx, entries in om["scalars"].items():
            state.setdefault(int(idx), {}).update(entries)
        self.optimizer.load_state_dict({"state": state, "param_groups": om["param_groups"]})
        if "scheduler" in meta:
            if self.scheduler is None:
                raise ValueError(
                    f"ember.train: {path} has a scheduler state but no scheduler given"
                )
            self.scheduler.load_state_dict(meta["scheduler"]["state"])
        self._stream.load_state_dict(meta["train_data"])
        if "eval_data" in meta and hasattr(self.eval_data, "load_state_dict"):
            try:
                self.eval_data.load_state_dict(meta["eval_data"])
            except (ValueError, KeyError, TypeError) as e:  # eval order only: go on
                warnings.warn(f"ember.train: eval data position not restored ({e})", stacklevel=2)
        _set_rng_state(meta["rng"])
        self.step = int(meta["step"])
        self.elapsed = float(meta["elapsed"])
        self.best_metric = meta["best_metric"]
        self.best_step = meta["best_step"]
        self.bad_evals = int(meta["bad_evals"])
        self.last_eval = dict(meta.get("last_eval") or {})
        best = self.out_dir / "best.safetensors" if self.out_dir else None
        if best is not None and best.is_file() and self.best_step is not None:
            from safetensors.numpy import load_file as _load

            self.best_state = dict(_load(str(best)))
        self._resumed_from = Path(path)

    def restore_best(self) -> None:
        """Load the best weights seen (by eval loss) into the model."""
        if self.best_state is None:
            raise ValueError("ember.train.Trainer.restore_best: no evaluation has run yet")
        from ..ops.creation import from_numpy

        self.model.load_state_dict({k: from_numpy(v) for k, v in self.best_state.items()})

    # ---- the loop ----------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        # Cheap on purpose (taken every step): ember's RNG and the data position.
        # numpy's/Python's global RNG states cost ~140 us to read, so they are saved at
        # checkpoints only (see the module docstring on interrupts).
        return {"ember": default_generator.get_state(), "data": self._stream.state_dict()}

    def _restore(self, snap: dict[str, Any]) -> None:
        default_generator.set_state(snap["ember"])
        self._stream.close()
        self._stream.load_state_dict(snap["data"])

    def _on_sigint(self, signum: int, frame: Any) -> None:
        """First Ctrl-C: finish the current step, then stop there; a second one stops
        at once."""
        if self._pending_interrupt and not self._critical:
            raise KeyboardInterrupt
        if not self._pending_interrupt:
            print(
                "\nember.train: stopping after this step (Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
        self._pending_interrupt = True

    def _write_log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def _note(self, bar: Any, msg: str) -> None:
        if bar is not None and not bar.disable:
            bar.write(msg, file=self.progress_file or sys.stderr)
        else:
            print(msg, file=self.progress_file or sys.stderr, flush=True)

    def _eval_and_track(self, bar: Any, track: bool = True) -> dict[str, float]:
        """Evaluate. track=False (an extra evaluation at the end, off the eval_every
        schedule) only reports: best model and patience stay, and the eval data's
        position is put back, so a run cut short and resumed matches a straight one."""
        saved = None
        if not track and hasattr(self.eval_data, "state_dict"):
            saved = self.eval_data.state_dict()
        metrics = self.evaluate()
        if saved is not None:
            self.eval_data.load_state_dict(saved)
        self.last_eval = metrics
        loss = metrics["eval_loss"]
        if not track:
            pass
        elif self.best_metric is None or loss < self.best_metric - self.min_delta:
            self.best_metric, self.best_step, self.bad_evals = loss, self.step, 0
            self.best_state = {
                k: np.array(np.asarray(v.cpu() if v.is_cuda else v), copy=True)
                for k, v in self.model.state_dict().items()
            }
            if self.out_dir is not None:
                ckpt.save_weights(
                    self.out_dir / "best.safetensors",
                    self.model,
                    {"step": self.step, "eval_loss": loss},
                )
        else:
            self.bad_evals += 1
            if self.patience is not None and self.bad_evals >= self.patience:
                self.should_stop = True
                self.stopped_early = True
        if self.verbose:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            self._note(bar, f"step {self.step}: {shown}")
        return metrics

    def _make_bar(self, total: int | None) -> Any:
        file = self.progress_file or sys.stderr
        on = self.progress
        if on is None:
            on = bool(getattr(file, "isatty", lambda: False)())
        if not on:
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            initial=self.step,
            desc="train",
            unit="step",
            file=file,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def _total_steps(self) -> int | None:
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is not None and hasattr(self.train_data, "__len__"):
            try:
                return math.ceil(self.epochs * len(self.train_data) / self.grad_accum_steps)
            except TypeError:
                return None
        return None

    def fit(self) -> dict[str, Any]:
        """Run the loop; returns a summary dict (step, epoch, loss, best eval loss and
        step, last eval metrics, stopped_early, elapsed, checkpoint)."""
        if self.resume:
            path: Path | None
            if self.resume is True:
                path = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
            else:
                path = Path(self.resume)
                if not path.is_file():
                    raise FileNotFoundError(f"ember.train: no checkpoint at {path}")
            if path is not None:
                self.load_checkpoint(path)
            self.resume = None  # a later fit() continues from memory
        from ..nn.utils import clip_grad_norm_

        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self._pending_interrupt = False
        self.model.train()
        bar = self._make_bar(self._total_steps())
        handler_installed = False
        previous_handler: Any = None
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
                    handler_installed = True
        start = time.perf_counter() - self.elapsed
        window = {"loss": 0.0, "steps": 0, "count": 0, "t": time.perf_counter()}
        rate_ema: float | None = None
        snap = self._snapshot()
        phase = "step"
        try:
            while not self.should_stop and (self.max_steps is None or self.step < self.max_steps):
                snap = self._snapshot()
                phase = "step"
                t_step = time.perf_counter()
                loss_sum, count, micro = 0.0, 0, 0
                for _ in range(self.grad_accum_steps):
                    try:
                        batch = self._stream.next()
                    except _Exhausted:
                        break
                    if self.device is not None:
                        batch = _move(batch, self.device)
                    loss = self.compute_loss(batch)
                    scaled = loss if self.grad_accum_steps == 1 else loss / self.grad_accum_steps
                    scaled.backward()
                    value = float(loss.item())
                    if not math.isfinite(value):
                        raise FloatingPointError(
                            f"ember.train: the loss is {value} at step {self.step + 1}"
                        )
                    loss_sum += value
                    count += self._count(batch)
                    micro += 1
                if micro == 0:
                    break
                self._critical = True
                if self.clip_grad_norm is not None:
                    clip_grad_norm_(params, self.clip_grad_norm)
                lr = self._lr()
                self.optimizer.step()
                self.optimizer.zero_grad()
                if self.scheduler is not None:
                    self.scheduler.step()
                self.step += 1
                self._critical = False
                phase = "after"
                now = time.perf_counter()
                self.elapsed = now - start
                self.last_loss = loss_sum / micro
                step_rate = count / max(now - t_step, 1e-9)
                rate_ema = step_rate if rate_ema is None else 0.9 * rate_ema + 0.1 * step_rate
                window["loss"] += self.last_loss
                window["steps"] += 1
                window["count"] += count

                record: dict[str, Any] | None = None
                if self.step % self.log_every == 0 or self.step == self.max_steps:
                    dt = max(now - window["t"], 1e-9)
                    record = {
                        "step": self.step,
                        "epoch": self._stream.epoch,
                        "loss": window["loss"] / window["steps"],
                        "lr": lr,
                        "throughput": window["count"] / dt,
                        "unit": f"{self.unit}/s",
                        "elapsed": round(self.elapsed, 4),
                    }
                    window = {"loss": 0.0, "steps": 0, "count": 0, "t": now}
                last = self.max_steps is not None and self.step >= self.max_steps
                scheduled = bool(self.eval_every) and self.step % self.eval_every == 0
                if self.eval_data is not None and (scheduled or last):
                    metrics = self._eval_and_track(bar, track=scheduled or not self.eval_every)
                    record = record or {
                        "step": self.step,
                        "epoch": self._stream.epoch,
                        "loss": self.last_loss,
                        "lr": lr,
                        "elapsed": round(self.elapsed, 4),
                    }
                    record.update(metrics)
                if record is not None:
                    self._write_log(record)
                for cb in self.callbacks:
                    cb(self)
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
                if bar is not None:
                    post = {
                        "loss": f"{self.last_loss:.4f}",
                        "lr": f"{lr:.2e}",
                        f"{self.unit}/s": _fmt_rate(rate_ema),
                    }
                    if "eval_loss" in self.last_eval:
                        post["eval"] = f"{self.last_eval['eval_loss']:.4f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                if self._pending_interrupt:  # a Ctrl-C during this step: stop here
                    raise KeyboardInterrupt
            # the end: evaluate if the last step did not, checkpoint, plot
            if (
                self.eval_data is not None
                and self.step > 0
                and (
                    not self.history
                    or self.history[-1].get("step") != self.step
                    or "eval_loss" not in self.history[-1]
                )
                and not self.stopped_early
            ):
                metrics = self._eval_and_track(bar, track=not self.eval_every)
                self._write_log(
                    {
                        "step": self.step,
                        "epoch": self._stream.epoch,
                        "loss": self.last_loss,
                        "lr": self._lr(),
                        "elapsed": round(self.elapsed, 4),
                        **metrics,
                    }
                )
            saved = self.last_checkpoint is not None and self.last_checkpoint.name == (
                f"{_CKPT_PREFIX}{self.step:08d}{_CKPT_SUFFIX}"
            )
            if self.out_dir is not None and self.step > 0 and not saved:
                self.save_checkpoint()
        except KeyboardInterrupt:
            self._critical = False
            self._pending_interrupt = False
            if phase == "step":  # mid-step: back to the state at the start of this step
                self.optimizer.zero_grad()
                self._restore(snap)
            if self.checkpoint_dir is not None:
                self.interrupt_checkpoint = self.save_checkpoint()
                self._note(
                    bar,
                    f"ember.train: interrupted at step {self.step}; checkpoint saved to "
                    f"{self.interrupt_checkpoint}",
                )
            raise
        finally:
            self._critical = False
            self._stream.park()
            if handler_installed:
                signal.signal(signal.SIGINT, previous_handler)
            if bar is not None:
                bar.close()
        if self.plot and self.out_dir is not None:
            self.plot_curves(self.out_dir / "training_curve.png")
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self._stream.epoch,
            "loss": self.last_loss,
            "best_eval_loss": self.best_metric,
            "best_step": self.best_step,
            "eval": dict(self.last_eval),
            "stopped_early": self.stopped_early,
            "elapsed": self.elapsed,
            "checkpoint": str(self.last_checkpoint) if self.last_checkpoint else None,
        }

    # ---- plot ------------------------------------------------------------------------------
    def _all_records(self) -> list[dict[str, Any]]:
        """Log records of the whole run (the log file spans resumes), last per step."""
        records: dict[int, dict[str, Any]] = {}
        if self.log_file is not None and self.log_file.is_file():
            with open(self.log_file, encoding="utf-8") as f:
                for line in f:
                    with contextlib.suppress(ValueError):
                        r = json.loads(line)
                        if isinstance(r, dict) and "step" in r and r["step"] <= self.step:
                            records[int(r["step"])] = r
        for r in self.history:
            records[int(r["step"])] = r
        return [records[k] for k in sorted(records)]

    def plot_curves(self, path: str | os.PathLike) -> Path | None:
        """Train (and eval) loss against step as a PNG; None without matplotlib."""
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
        records = self._all_records()
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


def fit(model: Any, optimizer: Any, train_data: Any, **kwargs: Any) -> dict[str, Any]:
    """``Trainer(model, optimizer, train_data, **kwargs).fit()``."""
    return Trainer(model, optimizer, train_data, **kwargs).fit()
