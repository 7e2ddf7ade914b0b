"""Python objects and whole models across ranks: broadcast_object_list,
all_gather_object and gather_object (torch), broadcast_object and broadcast_parameters
(Horovod's names). Objects travel pickled, so only send what every rank trusts (as with
torch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .buffers import host_buffer
from .group import _check_group, default_group


def broadcast_object(obj: Any, src: int = 0, group: Any = None) -> Any:
    """Rank ``src``'s ``obj`` (pickled); every rank returns it."""
    _check_group(group)
    g = default_group()
    return g.comm.bcast(obj if g.rank == src else None, root=src)


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None) -> None:
    """Replace the items of ``object_list`` (the same length on every rank) with rank
    ``src``'s, in place."""
    if not isinstance(object_list, list):
        raise TypeError(
            "ember.distributed.broadcast_object_list: object_list must be a list, got "
            f"{type(object_list).__name__}"
        )
    got = broadcast_object(object_list, src, group)
    if len(got) != len(object_list):
        raise ValueError(
            f"ember.distributed.broadcast_object_list: rank {src} sent {len(got)} objects, "
            f"this rank's list has {len(object_list)}"
        )
    object_list[:] = got


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """Fill ``object_list`` (world_size items) with every rank's ``obj``, in rank order."""
    _check_group(group)
    g = default_group()
    if not isinstance(object_list, list) or len(object_list) != g.size:
        raise ValueError(
            f"ember.distributed.all_gather_object: object_list must be a list of "
            f"world_size={g.size} items"
        )
    object_list[:] = g.comm.allgather(obj)


def gather_object(
    obj: Any, object_gather_list: list[Any] | None = None, dst: int = 0, group: Any = None
) -> None:
    """Fill ``object_gather_list`` (world_size items, on rank ``dst`` only; None
    elsewhere) with every rank's ``obj``, in rank order."""
    _check_group(group)
    g = default_group()
    if g.rank == dst and (
        not isinstance(object_gather_list, list) or len(object_gather_list) != g.size
    ):
        raise ValueError(
            f"ember.distributed.gather_object: rank {dst} needs object_gather_list, a list of "
            f"world_size={g.size} items"
        )
    got = g.comm.gather(obj, root=dst)
    if g.rank == dst:
        object_gather_list[:] = got


def broadcast_parameters(params: Any, src: int = 0) -> None:
    """Overwrite every rank's tensors with rank ``src``'s, in place: a module (its
    parameters and buffers), a ``state_dict``-like mapping or an iterable of tensors.
    The tensors travel packed, one message per dtype."""
    if hasattr(params, "parameters") and hasattr(params, "buffers"):
        tensors: Iterable[Any] = [*params.parameters(), *params.buffers()]
    elif isinstance(params, Mapping):
        tensors = params.values()
    else:
        tensors = params
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"ember.distributed.broadcast_parameters: expected tensors, got {type(t).__name__}"
            )
    g = default_group()
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < g.size:
        raise ValueError(
            f"ember.distributed.broadcast_parameters: src must be a rank in [0, {g.size}), "
            f"got {src!r}"
        )
    by_dtype: dict[np.dtype, list[tuple[np.ndarray, Any]]] = {}
    for t in tensors:
        arr, writeback = host_buffer(t)
        by_dtype.setdefault(arr.dtype, []).append((arr, writeback))
    for group in by_dtype.values():
        flat = np.concatenate([arr.reshape(-1) for arr, _ in group])
        g.comm.Bcast(flat, root=src)
        start = 0
        for arr, writeback in group:
            np.copyto(arr, flat[start : start + arr.size].reshape(arr.shape))
            start += arr.size
            if writeback is not None:
                writeback()
