"""Scans along a dimension: cumsum, cumprod, and the count/nonzero helpers.

The scans run numpy's sequential cumsum/cumprod on the host (the same summation order as
PyTorch's CPU kernel, in the compute dtype); tensors on CUDA take a round trip. The
backward is itself a reversed scan, so it costs one more of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, norm_dim, norm_dims
from .creation import tensor


def _host(x: Tensor, dtype: D.dtype) -> np.ndarray:
    return x.detach().cpu().to(dtype).numpy()


def _scan_dtype(x: Tensor, dtype: Any) -> D.dtype:
    if dtype is not None:
        return D.to_dtype(dtype)
    return D.int64 if x.dtype.category < 2 else x.dtype


class Cumsum(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, dtype: D.dtype) -> Tensor:
        ctx.dim = dim
        out = np.cumsum(_host(x, compute_dtype(dtype)), axis=dim)
        return tensor(out, device=x.device).to(dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        return _reverse_cumsum(g, ctx.dim), None, None


def _reverse_cumsum(g: Tensor, dim: int) -> Tensor:
    """out[i] = sum of g[j] for j >= i along dim."""
    return g.flip(dim).cumsum(dim).flip(dim)


class Cumprod(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, dtype: D.dtype) -> Tensor:
        ctx.dim = dim
        cdt = compute_dtype(dtype)
        out = tensor(np.cumprod(_host(x, cdt), axis=dim), device=x.device).to(dtype)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        x, out = ctx.saved_tensors
        d = ctx.dim
        if not bool((x == 0).any()):
            return _reverse_cumsum(g * out, d) / x, None, None
        # With zeros the quotient form divides by zero: d out_j / d x_i is the product of
        # x_k for k <= j, k != i; computed exactly on the host (O(n^2) per row).
        xs = np.moveaxis(_host(x, D.float64), d, -1)
        gs = np.moveaxis(_host(g, D.float64), d, -1)
        n = xs.shape[-1]
        grad = np.zeros_like(xs)
        for i in range(n):
            others = xs.copy()
            others[..., i] = 1.0
            partial = np.cumprod(others, axis=-1)
            grad[..., i] = (gs[..., i:] * partial[..., i:]).sum(-1)
        return tensor(np.moveaxis(grad, -1, d), device=x.device).to(x.dtype), None, None


def _scan(cls: type, op: str, input: Tensor, dim: int, dtype: Any) -> Tensor:
    check_tensor(input, op)
    if dim is None:
        raise TypeError(f"ember.{op}: dim is required")
    d = norm_dim(dim, input.ndim, op)
    dt = _scan_dtype(input, dtype)
    if input.ndim == 0:
        return input.to(dt).clone()
    return cls.apply(input.to(dt) if dt.is_floating_point else input, d, dt)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``: out[i] = input[0] + ... + input[i]. Integer and bool
    inputs sum in int64, as in PyTorch.

    Shape: same as input.
    """
    return _scan(Cumsum, "cumsum", input, dim, dtype)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running product along ``dim``. Integer and bool inputs multiply in int64.

    Shape: same as input.
    """
    return _scan(Cumprod, "cumprod", input, dim, dtype)


# ---- nonzero --------------------------------------------------------------------------------
def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the nonzero elements: an (n, ndim) int64 tensor, or with
    ``as_tuple=True`` one 1-D tensor per dimension.

    Shape: (number of nonzeros, input.ndim).
    """
    check_tensor(input, "nonzero")
    arr = _host(input, input.dtype if input.dtype.category < 2 else D.float64)
    where = np.nonzero(np.atleast_1d(arr))
    if as_tuple:
        return tuple(tensor(w.astype(np.int64), device=input.device) for w in where)
    cols = np.stack(where, axis=1) if input.ndim else np.zeros((len(where[0]), 0), np.int64)
    return tensor(cols.astype(np.int64), device=input.device)


def argwhere(input: Tensor) -> Tensor:
    """Same as ``nonzero(input)``. Shape: (number of nonzeros, input.ndim)."""
    return nonzero(input)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """The number of nonzero elements over ``dim`` (all when None), int64.

    Shape: input.shape without the counted dims.
    """
    check_tensor(input, "count_nonzero")
    dims = norm_dims(dim, input.ndim, "count_nonzero")
    return (input != 0).sum(dims) if dims else (input != 0).long()
