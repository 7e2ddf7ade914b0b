"""The Trainer's view of an MPI job (ember.distributed): which rank this is, and the few
exchanges the loop needs. In a one-process run (no process group, or a group of one)
every function is the trivial local answer, without any communication."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import distributed as dist
from ..nn.parallel import DistributedDataParallel
from ..ops.creation import from_numpy


def world_size() -> int:
    """Processes training together (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on the rank that logs, draws the progress bar and writes files (rank 0)."""
    return rank() == 0


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks."""
    if world_size() == 1:
        return value
    buf = np.array([value], np.float64)
    dist.all_reduce(from_numpy(buf))
    return float(buf[0]) / world_size()


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` in rank order on rank 0; None on the others."""
    if world_size() == 1:
        return [obj]
    everyone: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, everyone, dst=0)
    return everyone


def from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    return obj if world_size() == 1 else dist.broadcast_object(obj, src=0)


def unwrap(model: Any) -> Any:
    """The model inside a DistributedDataParallel wrapper (checkpoints hold its plain
    parameter names, so they load with or without the wrapper)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
