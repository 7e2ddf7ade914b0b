"""Tensors as MPI buffers: a contiguous CPU tensor of a dtype MPI knows is handed over
as the numpy array sharing its memory (zero-copy, MPI reads and writes the tensor
itself); any other tensor (strided, on a GPU, 16-bit floats, which MPI has no type for)
goes through a contiguous host copy that is written back afterwards."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..ops.creation import from_numpy
from ..tensor import Tensor

_STAGED_AS_FLOAT32 = (D.float16, D.bfloat16)


def check_tensor(t: object, op: str, what: str = "tensor") -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"ember.distributed.{op}: {what} must be an ember Tensor, got {type(t).__name__}"
        )
    return t


def host_buffer(t: Tensor) -> tuple[np.ndarray, Callable[[], None] | None]:
    """(array MPI may read and write, writeback): writeback is None when the array is
    the tensor's own memory, else it copies the array's contents into the tensor."""
    t = t.detach()
    if not t.is_cuda and t.is_contiguous() and t.dtype not in _STAGED_AS_FLOAT32:
        return t.numpy(), None
    # one copy, always a fresh array: the host tensor may share t's memory (a strided view)
    staged = np.array(
        t.cpu().to(D.float32 if t.dtype in _STAGED_AS_FLOAT32 else t.dtype).numpy(), order="C"
    )

    def writeback() -> None:
        write(t, staged)

    return staged, writeback


def write(t: Tensor, array: np.ndarray) -> None:
    """Copy ``array`` into ``t`` in place (any device, cast to t's dtype)."""
    own, writeback = host_buffer(t)
    if writeback is None:  # t's own memory
        np.copyto(own, array.reshape(own.shape))
        return
    with no_grad():
        t.detach().copy_(from_numpy(np.ascontiguousarray(array)))
