"""Operand casts for autocast regions, as torch's CPU autocast does them.

The ops that run in lower precision (linear, matmul and the products built on them) cast
float32 operands to the region's dtype; autograd records the casts, so gradients reach the
float32 tensors, and other dtypes are left alone. A parameter (a leaf that requires grad)
is cast once per outermost region and the cast reused, as torch's weight cache does;
unlike torch's, the cache also keys on grad mode and checks the tensor's version, so a cast made
under no_grad never stands in for one that must carry gradients, and an in-place update
(an optimizer step) recasts. The losses (torch's float32 list) cast bfloat16 / float16
arguments up to float32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .. import _autocast_state as state
from .. import _dtype as D
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor


def _cast(t: Tensor | None, dtype: D.dtype, device_type: str) -> Tensor | None:
    if t is None or t.dtype is not D.float32:
        return t
    if not (t.requires_grad and t.grad_fn is None and state.cache_enabled(device_type)):
        return t.to(dtype)
    casts = state.cached_casts()
    key = (id(t), is_grad_enabled())
    hit = casts.get(key)
    if hit is None or hit[0] is not t or hit[1] != t._version:
        # replaced, not added: a training loop inside one region keeps one cast per weight
        hit = casts[key] = (t, t._version, t.to(dtype))
    return hit[2]


def autocast_operands(device_type: str, *tensors: Tensor | None) -> tuple | None:
    """The tensors cast for an autocast region on device_type, or None outside one."""
    dtype = state.compute_dtype(device_type)
    if dtype is None:
        return None
    return tuple(_cast(t, dtype, device_type) for t in tensors)


def _to_float32(x: Any) -> Any:
    if isinstance(x, Tensor) and x.dtype in (D.bfloat16, D.float16):
        if state.compute_dtype(x.device.type) is not None:
            return x.to(D.float32)
    return x


def float32_in_autocast(fn: Callable) -> Callable:
    """Decorator for the ops autocast runs in float32 (the losses): inside an enabled region
    their bfloat16 / float16 tensor arguments are cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if state.entered[0]:
            args = tuple(_to_float32(a) for a in args)
            kwargs = {k: _to_float32(v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)

    return wrapper
