"""Reductions over any set of dimensions (sum, mean, prod, max/min, argmax/argmin,
var/std, logsumexp, any/all) and softmax / log_softmax. Kernels: csrc/cpu/reduce."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, norm_dim, norm_dims, prod
from .creation import ones, zeros
from .shape import expand, movedim, permute, reshape, unsqueeze

values_indices = namedtuple("values_indices", ["values", "indices"])


def _layout(x: Tensor, dims: tuple) -> tuple[Tensor, int, int, int]:
    """A contiguous tensor and (outer, r, inner) such that reducing its middle axis
    reduces ``dims``; permutes (one copy) only when the dims are not adjacent."""
    shape = x.shape
    if not dims:
        return x.contiguous(), prod(shape), 1, 1
    if dims == tuple(range(dims[0], dims[-1] + 1)):
        xc = x.contiguous()
        return (
            xc,
            prod(shape[: dims[0]]),
            prod(shape[dims[0] : dims[-1] + 1]),
            prod(shape[dims[-1] + 1 :]),
        )
    kept = [d for d in range(x.ndim) if d not in dims]
    xp = permute(x, *kept, *dims).contiguous()
    return xp, prod(shape[d] for d in kept), prod(shape[d] for d in dims), 1


def _out_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _reduce_kernel(op: str, x: Tensor, dims: tuple, keepdim: bool, dtype: D.dtype) -> Tensor:
    xc, outer, r, inner = _layout(cast(x, dtype), dims)
    out = empty(_out_shape(x.shape, dims, keepdim), dtype, x.device)
    kernels(x.device, op, "reduce").reduce(op, xc._impl, out._impl, outer, r, inner)
    return out


class Reduce(Function):
    """sum / mean / amax / amin over dims; max/min gradients are shared among ties."""

    @staticmethod
    def forward(
        ctx: Context, x: Tensor, op: str, dims: tuple, keepdim: bool, dtype: D.dtype
    ) -> Tensor:
        ctx.op, ctx.dims, ctx.keepdim, ctx.shape = op, dims, keepdim, x.shape
        cdt = compute_dtype(dtype)
        out = _reduce_kernel(op, x, dims, keepdim, cdt)
        if op in ("max", "min"):
            ctx.save_for_backward(x, out)
        elif op == "prod":
            ctx.save_for_backward(x, out)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        keep_shape = _out_shape(ctx.shape, ctx.dims, True)
        gk = reshape(g, keep_shape)
        op = ctx.op
        if op == "sum":
            return expand(gk, ctx.shape), None, None, None, None
        if op == "mean":
            n = prod(ctx.shape[d] for d in ctx.dims)
            return expand(gk / n, ctx.shape), None, None, None, None
        x, out = ctx.saved_tensors
        outk = reshape(out, keep_shape)
        if op == "prod":  # d prod / dx_i = prod / x_i (inputs with zeros are rare here)
            return gk * outk / x, None, None, None, None
        hit = (x == outk).to(g.dtype)
        count = sum(hit, ctx.dims, keepdim=True)
        return gk * hit / count, None, None, None, None


def _sum_dtype(x: Tensor, dtype: Any) -> D.dtype:
    if dtype is not None:
        return D.to_dtype(dtype)
    return D.int64 if x.dtype.category < 2 else x.dtype


def sum(
    input: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,  # noqa: A001
    dtype: Any = None,
) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all). Integer and bool inputs
    sum in int64.

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "sum")
    dims = norm_dims(dim, input.ndim, "sum")
    return Reduce.apply(input, "sum", dims, keepdim, _sum_dtype(input, dtype))


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Arithmetic mean over ``dim`` (floating inputs only, as in PyTorch).

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "mean")
    dt = D.to_dtype(dtype) if dtype is not None else input.dtype
    if not dt.is_floating_point:
        raise TypeError(f"ember.mean: needs a floating dtype, got {dt}; pass dtype= or .float()")
    return Reduce.apply(input, "mean", norm_dims(dim, input.ndim, "mean"), keepdim, dt)


def prod_(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Product over ``dim``.

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "prod")
    dims = norm_dims(dim, input.ndim, "prod")
    return Reduce.apply(input, "prod", dims, keepdim, _sum_dtype(input, dtype))


def _check_nonempty(x: Tensor, dims: tuple, op: str) -> None:
    # numel() == 0 first: a 0-d tensor (one element) has no shape[d] to read
    if x.numel() == 0 and (not dims or builtins.any(x.shape[d] == 0 for d in dims)):
        raise ValueError(
            f"ember.{op}: cannot reduce over an empty dimension (input shape {tuple(x.shape)})"
        )


def amax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim``; the gradient is shared evenly among tied maxima.

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "amax")
    dims = norm_dims(dim, input.ndim, "amax")
    _check_nonempty(input, dims, "amax")
    return Reduce.apply(input, "max", dims, keepdim, input.dtype)


def amin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Minimum over ``dim``; the gradient is shared evenly among tied minima.

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "amin")
    dims = norm_dims(dim, input.ndim, "amin")
    _check_nonempty(input, dims, "amin")
    return Reduce.apply(input, "min", dims, keepdim, input.dtype)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True if any element along ``dim`` is nonzero. Shape: as for sum."""
    check_tensor(input, "any")
    dims = norm_dims(dim, input.ndim, "any")
    if input.numel() == 0:
        return zeros(_out_shape(input.shape, dims, keepdim), dtype=D.bool_, device=input.device)
    return _reduce_kernel("max", input.bool(), dims, keepdim, D.bool_)


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True if every element along ``dim`` is nonzero. Shape: as for sum."""
    check_tensor(input, "all")
    dims = norm_dims(dim, input.ndim, "all")
    if input.numel() == 0:
        return ones(_out_shape(input.shape, dims, keepdim), dtype=D.bool_, device=input.device)
    return _reduce_kernel("min", input.bool(), dims, keepdim, D.bool_)


# ---- max / min with indices ---------------------------------------------------------------
class ArgReduce(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, op: str, dim: int, keepdim: bool) -> tuple:
        cdt = compute_dtype(x.dtype)
        xc, outer, r, inner = _layout(cast(x, cdt), (dim,))
        shape = _out_shape(x.shape, (dim,), keepdim)
        values = empty(shape, cdt, x.device)
        indices = empty(shape, D.int64, x.device)
        kernels(x.device, op, "reduce_arg").reduce_arg(
            op, xc._impl, values._impl, indices._impl, outer, r, inner
        )
        ctx.dim, ctx.keepdim, ctx.shape = dim, keepdim, x.shape
        ctx.save_for_backward(indices)
        return cast(values, x.dtype), indices

    @staticmethod
    def backward(ctx: Context, g: Tensor, _gi: Tensor) -> tuple:
        (indices,) = ctx.saved_tensors
        if not ctx.keepdim:
            g, indices = unsqueeze(g, ctx.dim), unsqueeze(indices, ctx.dim)
        # index.py sits above this module: scatter_add as a Tensor method
        gx = zeros(ctx.shape, dtype=g.dtype, device=g.device).scatter_add(ctx.dim, indices, g)
        return gx, None, None, None


def _max_min(op: str, input: Tensor, dim: Any, keepdim: bool, other: Any = None) -> Any:
    check_tensor(input, op)
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        # elementwise.py sits above this module: reach it through Tensor methods
        return input.maximum(dim) if op == "max" else input.minimum(dim)
    if dim is None:
        return (amax if op == "max" else amin)(input)
    d = norm_dim(dim, input.ndim, op)
    _check_nonempty(input, (d,), op)
    if input.ndim == 0:
        return values_indices(input, empty((), D.int64, input.device).fill_(0))
    return values_indices(*ArgReduce.apply(input, op, d, keepdim))


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """``max(x)``: the largest element; ``max(x, dim)``: (values, indices) along dim, the
    first index among ties; ``max(x, y)``: the elementwise maximum.

    Shape: a 0-d tensor, or input.shape without ``dim`` (kept as 1 with keepdim=True).
    """
    return _max_min("max", input, dim, keepdim)


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Like :func:`max`, for the smallest elements."""
    return _max_min("min", input, dim, keepdim)


def _arg(op: str, input: Tensor, dim: Any, keepdim: bool) -> Tensor:

    check_tensor(input, "arg" + op)
    if dim is None:
        flat = reshape(input, -1)
        _check_nonempty(flat, (0,), "arg" + op)
        idx = ArgReduce.apply(flat.detach(), op, 0, False)[1]
        return reshape(idx, [1] * input.ndim) if keepdim else idx
    d = norm_dim(dim, input.ndim, "arg" + op)
    _check_nonempty(input, (d,), "arg" + op)
    if input.ndim == 0:
        return empty((), D.int64, input.device).fill_(0)
    return ArgReduce.apply(input.detach(), op, d, keepdim)[1]


def argmax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened input when dim is None).

    Shape: 0-d, or input.shape without ``dim`` (kept as 1 with keepdim=True).
    """
    return _arg("max", input, dim, keepdim)


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element; see :func:`argmax`."""
    return _arg("min", input, dim, keepdim)


# ---- composites: autograd differentiates them through their parts ---------------------------
def var(
    input: Tensor,
    dim: Any = None,
    *,
    correction: int = 1,
    keepdim: bool = False,
    unbiased: bool | None = None,
) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as in PyTorch).

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "var")
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = norm_dims(dim, input.ndim, "var")
    n = prod(input.shape[d] for d in dims)
    centered = input - mean(input, dims, keepdim=True)
    return sum(centered * centered, dims, keepdim=keepdim) / builtins.max(n - correction, 0)


def std(
    input: Tensor,
    dim: Any = None,
    *,
    correction: int = 1,
    keepdim: bool = False,
    unbiased: bool | None = None,
) -> Tensor:
    """Standard deviation: sqrt(var). Shape: as for :func:`var`."""
    return var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased).sqrt()


def var_mean(
    input: Tensor,
    dim: Any = None,
    *,
    correction: int = 1,
    keepdim: bool = False,
    unbiased: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """(var, mean) over ``dim`` in one call. Shape: as for :func:`var`, both."""
    v = var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    return v, mean(input, dim, keepdim)


def std_mean(
    input: Tensor,
    dim: Any = None,
    *,
    correction: int = 1,
    keepdim: bool = False,
    unbiased: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """(std, mean) over ``dim`` in one call. Shape: as for :func:`var`, both."""
    v, m = var_mean(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    return v.sqrt(), m


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed stably (the max is subtracted first).

    Shape: input.shape without the reduced dims (kept as 1 with keepdim=True).
    """
    check_tensor(input, "logsumexp")
    dims = norm_dims(dim, input.ndim, "logsumexp")
    if not input.dtype.is_floating_point:
        input = input.float()
    if input.numel() == 0:  # the max of nothing: any shift works, the sum is 0 -> -inf
        m = zeros(_out_shape(input.shape, dims, True), dtype=input.dtype, device=input.device)
    else:
        m = amax(input.detach(), dims, keepdim=True)
        m = m.where(m.isfinite(), 0.0)  # Tensor methods: elementwise.py is above
    out = (input - m).exp().sum(dims, keepdim=True).log() + m
    return out if keepdim else out.squeeze(dims) if dims else out


# ---- softmax ---------------------------------------------------------------------------------
class Softmax(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, log: bool, dtype: D.dtype) -> Tensor:
        cdt = compute_dtype(dtype)
        last = x.ndim - 1
        xl = (
            movedim(cast(x, cdt), dim, last).contiguous()
            if dim != last
            else cast(x, cdt).contiguous()
        )
        out = empty(xl.shape, cdt, x.device)
        kernels(x.device, "softmax", "softmax").softmax(xl._impl, out._impl, log)
        ctx.dim, ctx.log = dim, log
        ctx.save_for_backward(out)
        res = movedim(out, last, dim) if dim != last else out
        return cast(res, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (y,) = ctx.saved_tensors  # in the moved (dim last) layout
        last = y.ndim - 1
        gl = movedim(g, ctx.dim, last) if ctx.dim != last else g
        gl = cast(gl, y.dtype).contiguous()
        gx = empty(y.shape, y.dtype, y.device)
        kernels(y.device, "softmax", "softmax_backward").softmax_backward(
            y._impl, gl._impl, gx._impl, ctx.log
        )
        return (movedim(gx, last, ctx.dim) if ctx.dim != last else gx), None, None, None


def _softmax(op: str, input: Tensor, dim: int, dtype: Any, log: bool) -> Tensor:
    check_tensor(input, op)
    if dim is None:
        raise TypeError(f"ember.{op}: dim is required")
    dt = D.to_dtype(dtype) if dtype is not None else input.dtype
    if not dt.is_floating_point:
        dt = D.get_default_dtype()
    d = norm_dim(dim, input.ndim, op)
    if input.ndim == 0:
        return reshape(_softmax(op, reshape(input, 1), 0, dt, log), ())
    return Softmax.apply(input, d, log, dt)


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, numerically stable. Shape: same as input."""
    return _softmax("softmax", input, dim, dtype, False)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) along ``dim``, numerically stable. Shape: same as input."""
    return _softmax("log_softmax", input, dim, dtype, True)
