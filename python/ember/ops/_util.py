"""Argument helpers shared by the ops: type checks, broadcast shapes, dimension
normalization, compute dtypes. Kernels, allocation and copies are in ember._primitives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import _dtype as D
from .._device import device
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor, _norm_dim

norm_dim = _norm_dim


def is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


def check_tensor(x: Any, op: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"ember.{op}: expected a Tensor for {arg}, got {type(x).__name__}")
    return x


def broadcast_shapes(*shapes: Sequence[int], op: str = "broadcast_shapes") -> tuple[int, ...]:
    """numpy's broadcasting rule; ValueError naming the op and shapes if incompatible."""
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            if out[j] == 1:
                out[j] = d
            elif d != 1 and d != out[j]:
                raise ValueError(
                    f"ember.{op}: shapes {' and '.join(str(tuple(x)) for x in shapes)} "
                    "cannot be broadcast together"
                )
    return tuple(out)


def norm_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...]:
    """None -> all dims; int or sequence -> sorted unique non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = sorted({norm_dim(d, ndim, op) for d in dims})
    if len(out) != len(dims):
        raise ValueError(f"ember.{op}: dim {dim} appears more than once")
    # a 0-d tensor takes dim 0 or -1 (as in PyTorch) and has no axis to name: () = all
    return tuple(out) if ndim else ()


def norm_dim_nonscalar(dim: Any, ndim: int, op: str) -> int:
    """norm_dim for ops that need an axis to cut along (narrow, split, unbind, ...)."""
    if ndim == 0:
        raise IndexError(f"ember.{op}: needs a tensor with at least one dimension, got a 0-d one")
    return norm_dim(dim, ndim, op)


def prod(xs: Iterable[int]) -> int:
    p = 1
    for x in xs:
        p *= x if isinstance(x, int) else int(x)  # keeps ember.onnx's symbolic ints
    return p


def compute_dtype(dt: D.dtype) -> D.dtype:
    """Half-precision tensors are stored narrow but computed in float32."""
    return D.float32 if dt in (D.float16, D.bfloat16) else dt


def same_device(op: str, *tensors: Tensor) -> device:
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise ValueError(
                f"ember.{op}: expected all tensors on the same device, got {dev} and {t.device}"
            )
    return dev


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def int_tuple(v: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a sequence of n ints as an n-tuple of ints."""
    if is_int(v):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) == n and all(is_int(e) for e in v):
        return tuple(int(e) for e in v)
    raise ValueError(f"ember.{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")


def float_dtype(op: str, *tensors: Tensor) -> D.dtype:
    """The floating result dtype of the tensors (TypeError naming op otherwise)."""
    dtype = D.result_type(*[(t.dtype, False) for t in tensors])
    if not dtype.is_floating_point:
        names = ", ".join(str(t.dtype) for t in tensors)
        raise TypeError(f"ember.{op}: needs floating-point tensors, got {names}")
    return dtype


def records_nothing(*tensors: Tensor) -> bool:
    """Whether an op on ``tensors`` records nothing (no gradient, no tracer watching), so
    its fast path may skip ``Function.apply``."""
    if Function.intercepted:
        return False
    for t in tensors:  # a loop, not any(...): this runs on every fast-path op
        if t._requires_grad:
            return not is_grad_enabled()
    return True
