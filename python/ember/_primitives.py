"""The primitives every layer above the Tensor needs: the kernel module of a device,
allocation, fills and copies. No autograd and no argument checks: callers have
checked their arguments (see docs/architecture.md, layers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _C, cuda
from . import _dtype as D
from ._device import device
from .tensor import Tensor


def kernels(dev: device, op: str, name: str | None = None) -> Any:
    """The module holding the kernels for a device (ember._C or ember._C_cuda)."""
    if dev.type == "cpu":
        return _C
    mod = cuda._module()
    if name is not None and not hasattr(mod, name):
        raise NotImplementedError(f"ember.{op}: not implemented for cuda tensors yet")
    return mod


def empty(shape: Sequence[int], dtype: D.dtype, dev: device) -> Tensor:
    """An uninitialized contiguous tensor."""
    shape = [int(s) for s in shape]
    if dev.type == "cpu":
        return Tensor(_C.TensorImpl.empty(shape, dtype.code))
    return Tensor(kernels(dev, "empty").empty(shape, dtype.code, dev.index))


def full(shape: Sequence[int], value: Any, dtype: D.dtype, dev: device) -> Tensor:
    """A contiguous tensor holding one value everywhere."""
    t = empty(shape, dtype, dev)
    if isinstance(value, (bool, np.bool_)):
        value = bool(value)
    elif isinstance(value, (int, np.integer)) and dtype is D.int64 and abs(int(value)) > 2**53:
        # the fill kernel takes a double, exact only up to 2**53
        copy_into(wrap_numpy(np.array(value, dtype.numpy_dtype)), t)
        return t
    kernels(dev, "full").fill(t._impl, float(value))
    return t


def full_scalar(value: Any, dtype: D.dtype, dev: device) -> Tensor:
    """A 0-d tensor holding one number."""
    return full((), value, dtype, dev)


def wrap_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a native-byte-order numpy array of a supported dtype."""
    return Tensor(_C.TensorImpl.from_buffer(array))


def copy_into(src: Tensor, dst: Tensor) -> None:
    """dst[...] = src (broadcast, cast, any device pair), no autograd."""
    if src.is_cuda or dst.is_cuda:
        kernels(src.device if src.is_cuda else dst.device, "copy").copy(src._impl, dst._impl)
        return
    kernels(dst.device, "copy").copy(src._impl, dst._impl)


def fresh_copy(x: Tensor, dtype: D.dtype | None = None, dev: device | None = None) -> Tensor:
    """A new contiguous copy of x, optionally in another dtype or on another device."""
    out = empty(x.shape, dtype or x.dtype, dev or x.device)
    copy_into(x, out)
    return out


def cast(x: Tensor, dtype: D.dtype) -> Tensor:
    """x in another dtype without autograd (x itself when the dtype already matches)."""
    return x if x.dtype is dtype else fresh_copy(x, dtype)
