"""Copies between dtypes, devices and layouts: to(), contiguous(), clone(), copy_()."""

from __future__ import annotations

from .. import _dtype as D
from .._device import device
from ..autograd.function import Context, Function
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from ._util import empty, kernels


def _copy_kernel(src: Tensor, dst: Tensor) -> None:
    """dst[...] = src (broadcast, cast, any device pair), no autograd."""
    if src.is_cuda or dst.is_cuda:
        kernels(src.device if src.is_cuda else dst.device, "copy").copy(src._impl, dst._impl)
        return
    if src._impl.storage_ptr == dst._impl.storage_ptr and src.numel() > 1:
        src = _fresh_copy(src)  # overlapping views: read everything before writing
    kernels(dst.device, "copy").copy(src._impl, dst._impl)


def _fresh_copy(x: Tensor, dtype: D.dtype | None = None, dev: device | None = None) -> Tensor:
    out = empty(x.shape, dtype or x.dtype, dev or x.device)
    _copy_kernel(x, out)
    return out


def cast(x: Tensor, dtype: D.dtype) -> Tensor:
    """x in another dtype without autograd (x itself when the dtype already matches)."""
    return x if x.dtype is dtype else _fresh_copy(x, dtype)


class Copy(Function):
    """A copy to a new contiguous tensor, possibly of another dtype or device."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dtype: D.dtype, dev: device) -> Tensor:
        ctx.src = (x.dtype, x.device)
        return _fresh_copy(x, dtype, dev)

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


def clone(x: Tensor) -> Tensor:
    """A contiguous copy that stays in the graph.

    Shape: same as x.
    """
    return Copy.apply(x, x.dtype, x.device)


def contiguous(x: Tensor) -> Tensor:
    """x itself if it is contiguous, else a contiguous copy (differentiable)."""
    return x if x.is_contiguous() else Copy.apply(x, x.dtype, x.device)


def copy_(dst: Tensor, src: Tensor) -> Tensor:
    """Write src (broadcast, cast) into dst in place; returns dst."""
    from .elementwise import apply_inplace

    return apply_inplace(dst, "copy_", lambda: _broadcast_for_copy(src, dst))


def _broadcast_for_copy(src: Tensor, dst: Tensor) -> Tensor:
    from .shape import expand

    src = src if src.device == dst.device else to(src, dst.device, None)
    return expand(src, dst.shape) if tuple(src.shape) != tuple(dst.shape) else src


def detach_copy(x: Tensor) -> Tensor:
    with no_grad():
        return _fresh_copy(x)
