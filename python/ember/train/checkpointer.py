"""Trainer checkpoints: what one holds (:func:`trainer_state`, :func:`load_trainer_state`),
where they go (``out_dir/checkpoints/step_<N>.safetensors``, the last k kept) and when
(:class:`Checkpointer`). The file format is :mod:`.checkpoint`'s."""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ops.creation import from_numpy
from ..random import get_rng_state, set_rng_state
from ..serialization import ModelFileError, load_tensors
from ..tensor import Tensor
from . import checkpoint as ckpt
from .callback import Callback, StepResult
from .ranks import from_main, gather_to_main, is_main, rank, unwrap, world_size

if TYPE_CHECKING:
    from .trainer import Trainer

PREFIX = "step_"
SUFFIX = ".safetensors"


def checkpoint_name(step: int) -> str:
    """``step_00000042.safetensors``: zero-padded, so names sort by step."""
    return f"{PREFIX}{step:08d}{SUFFIX}"


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step in ``directory`` (None when there is none)."""
    d = Path(directory)
    if not d.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for p in d.glob(f"{PREFIX}*{SUFFIX}"):
        digits = p.name[len(PREFIX) : -len(SUFFIX)]
        if digits.isdigit() and (best is None or int(digits) > best[0]):
            best = (int(digits), p)
    return best[1] if best else None


def _rng_state() -> dict[str, Any]:
    return {
        "ember": list(get_rng_state()),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    set_rng_state(tuple(state["ember"]))
    if "numpy" in state:
        np.random.set_state(tuple(state["numpy"]))
    if "python" in state:
        v, internal, gauss = state["python"]
        random.setstate((v, tuple(internal), gauss))


def trainer_state(trainer: Trainer) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, metadata) of a checkpoint: model and optimizer tensors under
    ``model.<name>`` / ``optim.<param index>.<key>``; step, optimizer scalars, scheduler,
    RNG states, data positions and the best-metric tracking as metadata. Under MPI (a
    collective: every rank calls it), rank 0's metadata also holds ``world_size`` and
    each rank's RNG states and data position under ``ranks``."""
    tensors: dict[str, Any] = {}
    for k, v in unwrap(trainer.model).state_dict().items():
        tensors[f"model.{k}"] = v
    osd = trainer.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entries in osd["state"].items():
        for key, v in entries.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{idx}.{key}"] = v
            else:
                scalars.setdefault(str(idx), {})[key] = v
    meta: dict[str, Any] = {
        "step": trainer.step,
        "elapsed": trainer.elapsed,
        "optimizer": {
            "type": type(trainer.optimizer).__name__,
            "param_groups": osd["param_groups"],
            "scalars": scalars,
        },
        "rng": _rng_state(),
        "train_data": trainer.stream.state_dict(),
        "best_metric": trainer.best_metric,
        "best_step": trainer.best_step,
        "bad_evals": trainer.bad_evals,
        "last_eval": trainer.last_eval,
    }
    if trainer.scheduler is not None:
        sd = trainer.scheduler.state_dict()
        meta["scheduler"] = {
            "type": type(trainer.scheduler).__name__,
            "state": {k: v for k, v in sd.items() if not callable(v)},
        }
    if trainer.eval_data is not None and hasattr(trainer.eval_data, "state_dict"):
        meta["eval_data"] = trainer.eval_data.state_dict()
    if world_size() > 1:
        meta["world_size"] = world_size()
        meta["ranks"] = gather_to_main({"rng": meta["rng"], "train_data": meta["train_data"]})
    return tensors, meta


def _tensor(a: np.ndarray) -> Tensor:
    return from_numpy(np.require(a, requirements="C"))


def load_trainer_state(trainer: Trainer, path: str | os.PathLike) -> None:
    """Restore everything :func:`trainer_state` captured from the file at ``path``.
    Metadata that is valid JSON but not the shape trainer_state writes (a missing key, a
    number where a list belongs) is a ModelFileError naming the file. Under MPI, rank 0
    reads the file and sends it to the others (so they need no shared disk), and each
    rank restores its own RNG states and data position."""
    loaded: Any = None
    if is_main():
        try:
            loaded = ckpt.load_file(path)
        except Exception as e:
            if world_size() == 1:
                raise
            from_main(f"{type(e).__name__}: {e}")  # the others raise too, not wait
            raise
    loaded = from_main(loaded)
    if isinstance(loaded, str):
        raise RuntimeError(f"ember.train: rank 0 could not load the checkpoint {path}: {loaded}")
    arrays, meta = loaded
    try:
        _restore(trainer, path, arrays, meta)
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise ModelFileError(path, f"malformed trainer state ({type(e).__name__}: {e})") from e


def _restore(trainer: Trainer, path: Any, arrays: dict[str, np.ndarray], meta: dict) -> None:
    saved_ranks = int(meta.get("world_size", 1))
    if saved_ranks != world_size():
        raise ValueError(
            f"ember.train: {path} was written by {saved_ranks} rank(s) and this run has "
            f"{world_size()}: resume with the same number of processes (the data positions "
            "and random states are per rank)"
        )
    mine = meta["ranks"][rank()] if "ranks" in meta else meta
    unwrap(trainer.model).load_state_dict(
        {k[len("model.") :]: _tensor(v) for k, v in arrays.items() if k.startswith("model.")}
    )
    om = meta["optimizer"]
    if om["type"] != type(trainer.optimizer).__name__:
        raise ValueError(
            f"ember.train: {path} holds a {om['type']} state, but the optimizer is a "
            f"{type(trainer.optimizer).__name__}"
        )
    state: dict[int, dict[str, Any]] = {}
    for k, v in arrays.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = _tensor(v)
    for idx, entries in om["scalars"].items():
        state.setdefault(int(idx), {}).update(entries)
    trainer.optimizer.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    if "scheduler" in meta:
        if trainer.scheduler is None:
            raise ValueError(f"ember.train: {path} has a scheduler state but no scheduler given")
        trainer.scheduler.load_state_dict(meta["scheduler"]["state"])
    trainer.stream.load_state_dict(mine["train_data"])
    if "eval_data" in meta and hasattr(trainer.eval_data, "load_state_dict"):
        try:
            trainer.eval_data.load_state_dict(meta["eval_data"])
        except (ValueError, KeyError, TypeError) as e:  # eval order only: go on
            warnings.warn(f"ember.train: eval data position not restored ({e})", stacklevel=3)
    _set_rng_state(mine["rng"])
    trainer.step = int(meta["step"])
    trainer.elapsed = float(meta["elapsed"])
    trainer.best_metric = meta["best_metric"]
    trainer.best_step = meta["best_step"]
    trainer.bad_evals = int(meta["bad_evals"])
    trainer.last_eval = dict(meta.get("last_eval") or {})
    best = trainer.out_dir / "best.safetensors" if trainer.out_dir else None
    if best is not None and best.is_file() and trainer.best_step is not None:
        trainer.best_state = load_tensors(best)[0]


def save_trainer_state(trainer: Trainer, path: str | os.PathLike, keep: int) -> Path:
    """Write a checkpoint of ``trainer`` atomically to ``path``; in the trainer's
    checkpoint folder, delete all but the ``keep`` newest. Under MPI every rank calls
    it and rank 0 writes; all return the path."""
    tensors, meta = trainer_state(trainer)
    if not is_main():
        return Path(path)
    path = ckpt.save_file(path, tensors, meta)
    folder = trainer.checkpoint_dir
    if folder is not None and path.parent == folder:
        found = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
        for old in found[: max(0, len(found) - keep)]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


class Checkpointer(Callback):
    """A checkpoint every ``every`` steps (None: none on the way) and, when the trainer
    has an out_dir, one after the last step unless that step already has one."""

    def __init__(self, every: int | None) -> None:
        self.every = every

    def on_step_end(self, trainer: Trainer, step: StepResult) -> None:
        if self.every and step.step % self.every == 0:
            trainer.save_checkpoint()

    def on_fit_end(self, trainer: Trainer) -> None:
        last = trainer.last_checkpoint
        saved = last is not None and last.name == checkpoint_name(trainer.step)
        if trainer.out_dir is not None and trainer.step > 0 and not saved:
            trainer.save_checkpoint()
