"""Collectives on ember tensors with torch.distributed's signatures: all_reduce,
broadcast and all_gather act in place, barrier synchronizes. ``async_op=True`` returns
a :class:`Work` whose ``wait()`` completes the operation."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np

from ..tensor import Tensor
from .buffers import check_tensor, host_buffer, write
from .group import _check_group, default_group


class ReduceOp(Enum):
    """How all_reduce combines the ranks' tensors. AVG is SUM divided by the world size
    (floating-point tensors only)."""

    SUM = "SUM"
    PRODUCT = "PROD"
    MIN = "MIN"
    MAX = "MAX"
    AVG = "AVG"


class Work:
    """A started non-blocking collective: ``wait()`` blocks until it is done and its
    result is in the tensors; ``is_completed()`` asks without blocking."""

    def __init__(self, request: Any, finish: Callable[[], None] | None) -> None:
        self._request = request
        self._finish = finish
        self._done = False

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()

    def wait(self, timeout: Any = None) -> bool:
        """Block until the collective finished (``timeout`` is accepted for torch's
        signature; MPI requests cannot time out). Returns True."""
        if not self._done:
            self._request.Wait()
            self._complete()
        return True

    def is_completed(self) -> bool:
        """True once the collective finished (drives MPI's progress as it asks)."""
        if not self._done and self._request.Test():
            self._complete()
        return self._done


def _mpi_op(op: Any) -> Any:
    from mpi4py import MPI

    if not isinstance(op, ReduceOp):
        raise TypeError(f"ember.distributed.all_reduce: op must be a ReduceOp, got {op!r}")
    return MPI.SUM if op is ReduceOp.AVG else getattr(MPI, op.value)


def _run(
    blocking: Callable[[], None],
    start: Callable[[], Any],
    finish: Callable[[], None] | None,
    async_op: bool,
) -> Work | None:
    if async_op:
        return Work(start(), finish)
    blocking()
    if finish is not None:
        finish()
    return None


def all_reduce(
    tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Combine ``tensor`` across all ranks with ``op``; every rank's tensor holds the
    result afterwards."""
    _check_group(group)
    check_tensor(tensor, "all_reduce")
    g = default_group()
    from mpi4py import MPI  # imported once a group exists, so mpi4py is there

    mpi_op = _mpi_op(op)
    if op is ReduceOp.AVG and not tensor.is_floating_point():
        raise TypeError(
            f"ember.distributed.all_reduce: ReduceOp.AVG needs a floating-point tensor, got "
            f"{tensor.dtype}"
        )
    arr, writeback = host_buffer(tensor)

    def finish() -> None:
        if op is ReduceOp.AVG:
            np.divide(arr, g.size, out=arr)
        if writeback is not None:
            writeback()

    return _run(
        lambda: g.comm.Allreduce(MPI.IN_PLACE, arr, mpi_op),
        lambda: g.comm.Iallreduce(MPI.IN_PLACE, arr, mpi_op),
        finish if (op is ReduceOp.AVG or writeback is not None) else None,
        async_op,
    )


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into every other rank's ``tensor``."""
    _check_group(group)
    check_tensor(tensor, "broadcast")
    g = default_group()
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < g.size:
        raise ValueError(
            f"ember.distributed.broadcast: src must be a rank in [0, {g.size}), got {src!r}"
        )
    arr, writeback = host_buffer(tensor)
    return _run(
        lambda: g.comm.Bcast(arr, root=src),
        lambda: g.comm.Ibcast(arr, root=src),
        writeback,
        async_op,
    )


def all_gather(
    tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False
) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank. ``tensor_list``
    holds world_size tensors of ``tensor``'s shape and dtype."""
    _check_group(group)
    check_tensor(tensor, "all_gather")
    g = default_group()
    if not isinstance(tensor_list, list) or len(tensor_list) != g.size:
        n = len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__
        raise ValueError(
            f"ember.distributed.all_gather: tensor_list must be a list of world_size={g.size} "
            f"tensors, got {n}"
        )
    for i, out in enumerate(tensor_list):
        check_tensor(out, "all_gather", f"tensor_list[{i}]")
        if tuple(out.shape) != tuple(tensor.shape) or out.dtype != tensor.dtype:
            raise ValueError(
                f"ember.distributed.all_gather: tensor_list[{i}] is {tuple(out.shape)} "
                f"{out.dtype}, but the input is {tuple(tensor.shape)} {tensor.dtype}"
            )
    send, _ = host_buffer(tensor)
    recv = np.empty((g.size, *send.shape), send.dtype)

    def finish() -> None:
        for out, row in zip(tensor_list, recv):
            write(out, row)

    return _run(
        lambda: g.comm.Allgather(send, recv),
        lambda: g.comm.Iallgather(send, recv),
        finish,
        async_op,
    )


def barrier(group: Any = None, async_op: bool = False) -> Work | None:
    """Return once every rank has called barrier."""
    _check_group(group)
    g = default_group()
    return _run(g.comm.Barrier, g.comm.Ibarrier, None, async_op)
