"""Copies between dtypes, devices and layouts: to(), contiguous(), clone()."""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._device import device, to_device
from .._primitives import fresh_copy, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor


class Copy(Function):
    """A copy to a new contiguous tensor, possibly of another dtype or device."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dtype: D.dtype, dev: device) -> Tensor:
        ctx.src = (x.dtype, x.device)
        return fresh_copy(x, dtype, dev)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        dtype, dev = ctx.src
        if not dtype.is_floating_point:
            return None, None, None
        return to(g, dev, dtype, False), None, None


def to(x: Tensor, dev: device | None, dtype: D.dtype | None, copy: bool = False) -> Tensor:
    """Tensor.to: returns x itself when nothing changes and copy is False."""
    dev = dev or x.device
    dtype = dtype or x.dtype
    if dev == x.device and dtype is x.dtype and not copy:
        return x
    if dev.type == "cuda":
        kernels(dev, "to")  # raises a clear error without CUDA
    return Copy.apply(x, dtype, dev)


def parse_to_args(
    args: tuple, kwargs: dict, op: str, extra: tuple[str, ...] = ()
) -> tuple[device | None, D.dtype | None]:
    """(device, dtype), each None when not given, from the arguments of a ``.to`` call:
    positional dtypes, devices or a tensor (its dtype and device), keywords ``dtype``,
    ``device``, ``non_blocking`` and the names in ``extra`` (left to the caller)."""
    unexpected = set(kwargs) - {"dtype", "device", "non_blocking", *extra}
    if unexpected:
        raise TypeError(f"{op}: unexpected arguments {sorted(unexpected)}")
    dtype, dev = kwargs.get("dtype"), kwargs.get("device")
    for a in args:
        if isinstance(a, Tensor):
            dtype, dev = a.dtype, a.device
        elif isinstance(a, (str, device)) and not (isinstance(a, str) and a in D.BY_NAME):
            dev = a
        elif a is not None:
            dtype = a
    return (
        None if dev is None else to_device(dev),
        None if dtype is None else D.to_dtype(dtype),
    )


def tensor_to(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)`` or ``t.to(other)``.

    Like PyTorch, a dtype conversion checks no values: integers wrap to a narrower
    integer type (300 -> int8 gives 44), floats beyond an integer type's range saturate
    to its min or max and NaN becomes 0, floats beyond a float type's range become inf.
    ``ember.tensor(data, dtype=...)`` from Python or numpy data raises instead."""
    dev, dtype = parse_to_args(args, kwargs, "ember.to", ("copy",))
    return to(x, dev, dtype, bool(kwargs.get("copy", False)))


def clone(x: Tensor, *, memory_format: Any = None) -> Tensor:
    """A contiguous copy that stays in the graph (ember tensors are always laid out
    row-major, so ``memory_format`` is accepted and has nothing to choose).

    Shape: same as x.
    """
    return Copy.apply(x, x.dtype, x.device)


def contiguous(x: Tensor) -> Tensor:
    """x itself if it is contiguous, else a contiguous copy (differentiable)."""
    return x if x.is_contiguous() else Copy.apply(x, x.dtype, x.device)


def detach(input: Tensor) -> Tensor:
    """``input`` cut from the autograd graph (shares its memory).

    Shape: same as input.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.detach: expected a Tensor, got {type(input).__name__}")
    return input.detach()


def is_floating_point(input: Tensor) -> bool:
    """Whether input's dtype is a floating-point type."""
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.is_floating_point: expected a Tensor, got {type(input).__name__}")
    return input.dtype.is_floating_point
