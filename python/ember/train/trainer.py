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

Under MPI (``ember.distributed.init_process_group()`` in every rank, the model wrapped
in ``DistributedDataParallel``, each rank fed its own shard of the data): every rank
runs the loop, rank 0 alone writes the log, draws the progress bar, prints and writes
checkpoints and the best weights; a checkpoint holds every rank's RNG states and data
position, and resume restores each rank from it (rank 0 reads the file and sends it
to the others), so a stop and resume at the same world size is as exact as in one
process. The logged loss is the mean over the ranks and the throughput their sum.
With ``grad_accum_steps`` > 1 the first micro-batches run under the wrapper's
``no_sync()``, so gradients are reduced once per step.

The loop itself is :meth:`Trainer.fit`; each concern around it is a small part:
evaluation (``evaluator.py``), best model and early stopping (``early_stopping.py``),
the JSONL log (``jsonl_logger.py``), checkpoints (``checkpointer.py``), the progress
bar (``progress.py``), Ctrl-C (``interrupt.py``), the data position (``batches.py``)
and the plot (``plot.py``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..nn.utils import clip_grad_norm_
from ..ops.creation import from_numpy
from ..random import default_generator
from ..tensor import Tensor
from .batches import BatchStream, DataExhausted, batch_size, move_batch
from .callback import Callback, StepResult, as_callback
from .checkpointer import (
    Checkpointer,
    checkpoint_name,
    latest_checkpoint,
    load_trainer_state,
    save_trainer_state,
    trainer_state,
)
from .early_stopping import EarlyStopping
from .evaluator import Evaluator, evaluate
from .interrupt import SigintGuard
from .jsonl_logger import JsonlLogger, read_records
from .plot import plot_curves
from .progress import ProgressBar
from .ranks import from_main as ranks_from_main
from .ranks import is_main, mean, unwrap, world_size

__all__ = ["Trainer", "fit", "latest_checkpoint"]


def _check_positive(value: Any, what: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"ember.train.Trainer: {what} must be a positive int, got {value!r}")


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
        callbacks: ``cb(trainer)`` after every optimizer step, or
            :class:`~ember.train.Callback` objects (hooks at the start, after every
            step, at the end); set ``trainer.should_stop = True`` to end training.
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
        callbacks: Iterable[Callback | Callable[[Trainer], Any]] = (),
        device: Any = None,
        verbose: bool = False,
    ) -> None:
        name = "ember.train.Trainer"
        _check_positive(epochs, "epochs")
        _check_positive(max_steps, "max_steps")
        _check_positive(grad_accum_steps, "grad_accum_steps", allow_none=False)
        _check_positive(eval_every, "eval_every")
        _check_positive(eval_steps, "eval_steps")
        _check_positive(log_every, "log_every", allow_none=False)
        _check_positive(checkpoint_every, "checkpoint_every")
        _check_positive(keep_checkpoints, "keep_checkpoints", allow_none=False)
        _check_positive(early_stopping_patience, "early_stopping_patience")
        _check_positive(tokens_per_batch, "tokens_per_batch")
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
        # what to train, and how
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
        self.device = device
        self.callbacks = list(callbacks)
        # evaluation and early stopping
        self.eval_data = eval_data
        self.eval_every = eval_every
        self.eval_steps = eval_steps
        self.metric_fn = metric_fn
        self.patience = early_stopping_patience
        self.min_delta = float(min_delta)
        # output: log, checkpoints, progress bar, plot
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
        self.progress_file = progress_file
        self.progress = progress
        self.batch_size_fn = batch_size_fn
        self.tokens_per_batch = tokens_per_batch
        self.unit = unit or ("tokens" if tokens_per_batch else "samples")
        self.plot = plot
        self.verbose = verbose
        # the state (all of it is in a checkpoint)
        self.stream = BatchStream(train_data, self.epochs)
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

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train until ``max_steps``, the end of the data, or a stop; returns
        :meth:`summary`.

        Each step: ``grad_accum_steps`` micro-batches forward and backward, one update
        (clipping, optimizer, scheduler), an evaluation when one is due, then the
        callbacks in this order: the log, the user's callbacks, the checkpointer, the
        progress bar. At the end: an evaluation if the last step had none, the final
        checkpoint, the plot. The parts are built from the trainer's attributes at each
        call, so a later ``fit()`` (e.g. after raising ``max_steps``) sees changes."""
        self._resume_if_asked()
        main = is_main()  # the other ranks of an MPI job train quietly
        bar = ProgressBar(
            self.progress if main else False, self.progress_file, self.unit, self._total_steps()
        )
        log = JsonlLogger(self.log_file if main else None, self.log_every, self.unit)
        stopping = EarlyStopping(self.patience, self.min_delta)
        evaluator = Evaluator(
            self.eval_data, self.eval_every, stopping, bar.note if self.verbose and main else None
        )
        checkpointer = Checkpointer(self.checkpoint_every)
        callbacks = [log, *map(as_callback, self.callbacks), checkpointer, bar]
        self.model.train()
        start = time.perf_counter() - self.elapsed
        snap = self._snapshot()
        with SigintGuard() as sigint:
            try:
                for cb in callbacks:
                    cb.on_fit_start(self)
                while not self.should_stop and (
                    self.max_steps is None or self.step < self.max_steps
                ):
                    snap = self._snapshot()
                    step = self._train_step(sigint, start)
                    if step is None:  # the training data ran out
                        break
                    step.eval = evaluator.after_step(self)
                    for cb in callbacks:
                        cb.on_step_end(self, step)
                    if sigint.pending:  # a Ctrl-C during this step: stop here
                        raise KeyboardInterrupt
                final = evaluator.at_end(self)
                if final is not None:
                    log.write(self, {**log.short_record(self, self._lr()), **final})
                for cb in callbacks:
                    cb.on_fit_end(self)
            except KeyboardInterrupt:
                sigint.clear()
                self._save_interrupted(snap, bar)
                raise
            finally:
                self.stream.park()
                for cb in callbacks:
                    cb.on_exit(self)
        if self.plot and self.out_dir is not None and main:
            self.plot_curves(self.out_dir / "training_curve.png")
        return self.summary()

    def _train_step(self, sigint: SigintGuard, start: float) -> StepResult | None:
        """One optimizer step over ``grad_accum_steps`` micro-batches (None when the
        data ran out before the first one)."""
        t_step = time.perf_counter()
        ranks = world_size()
        loss_sum, count, micro = 0.0, 0, 0
        for k in range(self.grad_accum_steps):
            try:
                batch = self.stream.next()
            except DataExhausted:
                break
            if self.device is not None:
                batch = move_batch(batch, self.device)
            # DistributedDataParallel: reduce the gradients once, after the last micro-batch
            last = k == self.grad_accum_steps - 1
            no_sync = getattr(self.model, "no_sync", None)
            with contextlib.nullcontext() if last or no_sync is None else no_sync():
                loss = self.compute_loss(batch)
                scaled = loss if self.grad_accum_steps == 1 else loss / self.grad_accum_steps
                scaled.backward()
            value = float(loss.item())
            if ranks == 1:
                self._check_finite(value)
            loss_sum += value
            count += self._count(batch) * ranks
            micro += 1
        if micro == 0:
            return None
        if ranks > 1:  # every rank checks the mean, so all of them stop together
            loss_sum = mean(loss_sum)
            self._check_finite(loss_sum)
        with sigint.deferred():  # the update and the step count change together or not at all
            if self.clip_grad_norm is not None:
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                clip_grad_norm_(params, self.clip_grad_norm)
            lr = self._lr()
            self.optimizer.step()
            self.optimizer.zero_grad()
            if self.scheduler is not None:
                self.scheduler.step()
            self.step += 1
        now = time.perf_counter()
        self.elapsed = now - start
        self.last_loss = loss_sum / micro
        return StepResult(self.step, self.last_loss, lr, count, now - t_step, now)

    def _check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            raise FloatingPointError(f"ember.train: the loss is {value} at step {self.step + 1}")

    def _snapshot(self) -> dict[str, Any]:
        # Cheap on purpose (taken every step): the step, ember's RNG and the data
        # position. numpy's/Python's global RNG states cost ~140 us to read, so they are
        # saved at checkpoints only (see the module docstring on interrupts).
        return {
            "step": self.step,
            "ember": default_generator.get_state(),
            "data": self.stream.state_dict(),
        }

    def _save_interrupted(self, snap: dict[str, Any], bar: ProgressBar) -> None:
        """After a Ctrl-C: drop a partial step (back to ``snap``, the state at its start)
        and save a checkpoint when there is an out_dir."""
        if self.step == snap["step"]:  # the step's update did not happen
            self.optimizer.zero_grad()
            default_generator.set_state(snap["ember"])
            self.stream.close()
            self.stream.load_state_dict(snap["data"])
        if self.checkpoint_dir is not None:
            self.interrupt_checkpoint = self.save_checkpoint()
            if is_main():
                bar.note(
                    f"ember.train: interrupted at step {self.step}; checkpoint saved to "
                    f"{self.interrupt_checkpoint}"
                )

    def _resume_if_asked(self) -> None:
        if not self.resume:
            return
        path: Path | None
        if self.resume is True:
            # rank 0 looks (the other ranks may not see its disk); load_checkpoint sends
            # them the file
            found = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
            path = ranks_from_main(found)
        else:
            path = Path(self.resume)
        if path is not None:
            self.load_checkpoint(path)
        self.resume = None  # a later fit() continues from memory

    def _total_steps(self) -> int | None:
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is not None and hasattr(self.train_data, "__len__"):
            try:
                return math.ceil(self.epochs * len(self.train_data) / self.grad_accum_steps)
            except TypeError:
                return None
        return None

    # ---- pieces --------------------------------------------------------------------------
    def compute_loss(self, batch: Any) -> Tensor:
        """``loss_fn(model, batch)``, or ``criterion(model(x), y)`` for ``batch = (x, y)``."""
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
        return batch_size(batch)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def evaluate(self, data: Any = None, steps: int | None = None) -> dict[str, float]:
        """Mean loss (and metrics) over eval data (default: ``eval_data``, ``eval_steps``
        batches), in eval mode without gradients. Returns ``{"eval_loss": ...,
        "eval_<metric>": ...}`` (weighted by batch size)."""
        data = self.eval_data if data is None else data
        steps = self.eval_steps if steps is None else steps
        if data is None:
            raise ValueError("ember.train.Trainer.evaluate: no eval data")
        return evaluate(
            self.model,
            data,
            steps,
            loss=self.compute_loss,
            count=batch_size if self.batch_size_fn is None else self._count,
            metric_fn=self.metric_fn,
            device=self.device,
        )

    def summary(self) -> dict[str, Any]:
        """step, epoch, last loss, best eval loss and its step, the last eval metrics,
        stopped_early, elapsed seconds and the last checkpoint's path."""
        return {
            "step": self.step,
            "epoch": self.stream.epoch,
            "loss": self.last_loss,
            "best_eval_loss": self.best_metric,
            "best_step": self.best_step,
            "eval": dict(self.last_eval),
            "stopped_early": self.stopped_early,
            "elapsed": self.elapsed,
            "checkpoint": str(self.last_checkpoint) if self.last_checkpoint else None,
        }

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, metadata) of a checkpoint of the current state."""
        return trainer_state(self)

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write a checkpoint atomically (default: ``out_dir/checkpoints/step_N``) and
        prune old ones down to ``keep_checkpoints``. Under MPI every rank calls it (it
        gathers their states) and rank 0 writes."""
        if path is None:
            if self.checkpoint_dir is None:
                raise ValueError("ember.train.Trainer.save_checkpoint: no out_dir and no path")
            path = self.checkpoint_dir / checkpoint_name(self.step)
        self.last_checkpoint = save_trainer_state(self, path, self.keep_checkpoints)
        return self.last_checkpoint

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (under MPI: on every rank,
        from rank 0's copy of the file)."""
        load_trainer_state(self, path)

    def restore_best(self) -> None:
        """Load the best weights seen (by eval loss) into the model."""
        if self.best_state is None:
            raise ValueError("ember.train.Trainer.restore_best: no evaluation has run yet")
        unwrap(self.model).load_state_dict({k: from_numpy(v) for k, v in self.best_state.items()})

    def plot_curves(self, path: str | os.PathLike) -> Path | None:
        """Train (and eval) loss of the whole run against step as a PNG; None without
        matplotlib."""
        return plot_curves(read_records(self.log_file, self.history, self.step), path)


def fit(model: Any, optimizer: Any, train_data: Any, **kwargs: Any) -> dict[str, Any]:
    """``Trainer(model, optimizer, train_data, **kwargs).fit()``."""
    return Trainer(model, optimizer, train_data, **kwargs).fit()
