"""Dropout as one autograd op: the keep-mask comes from ember's Philox stream (so it is
reproducible under ``ember.manual_seed`` for any thread count), and the forward keeps
the scaled mask so the backward is a single multiply."""

from __future__ import annotations

from .. import _C
from .. import _dtype as D
from .._device import CPU
from .._generator import default_generator
from .._primitives import cast, empty, full_scalar, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype


def _scaled_mask(shape: tuple, p: float, dtype: D.dtype) -> Tensor:
    """A tensor of ``1/(1-p)`` (kept) and ``0`` (dropped) values, keep probability 1-p.

    Four kernel calls, no autograd: uniform draw, compare, select."""
    u = empty(shape, dtype, CPU)
    seed, offset = default_generator._take(u.numel())
    _C.random_fill(u._impl, "uniform", 0.0, 1.0, seed, offset)
    keep = empty(shape, D.bool_, u.device)
    _C.binary("ge", u._impl, full_scalar(p, dtype, u.device)._impl, keep._impl)
    scale = full_scalar(1.0 / (1.0 - p), dtype, u.device)
    zero = full_scalar(0.0, dtype, u.device)
    _C.where(keep._impl, scale._impl, zero._impl, u._impl)  # reuse u's memory
    return u


class Dropout(Function):
    """out = x * mask, mask in {0, 1/(1-p)}; grad = g * mask."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, p: float) -> Tensor:
        cdt = compute_dtype(x.dtype)
        mask = _scaled_mask(tuple(x.shape), p, cdt)
        if x.is_cuda:
            mask = mask.to(x.device)
        out = empty(x.shape, cdt, x.device)
        kernels(x.device, "dropout", "binary").binary(
            "mul", cast(x, cdt)._impl, mask._impl, out._impl
        )
        ctx.save_for_backward(mask)
        return cast(out, x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (mask,) = ctx.saved_tensors
        gx = empty(g.shape, mask.dtype, g.device)
        kernels(g.device, "dropout", "binary").binary(
            "mul", cast(g, mask.dtype)._impl, mask._impl, gx._impl
        )
        return cast(gx, g.dtype), None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``, during
    training; identity when ``training`` is False or ``p`` is 0. The mask is drawn from
    the global generator (``ember.manual_seed`` makes it reproducible). ``inplace`` is
    accepted for PyTorch compatibility; the result is always a new tensor.

    Shape: same as input.
    """
    check_tensor(input, "dropout")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"ember.dropout: p must be between 0 and 1, got {p}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.dropout: needs a floating tensor, got {input.dtype}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    out = Dropout.apply(input, p)
    return out
