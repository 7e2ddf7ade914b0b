"""2-D pooling (max, average, adaptive average) as coarse autograd ops over the kernels in
csrc/cpu/pool: each op is one Function whose forward and backward call one kernel each. The
kernels take float32 or float64; float16 / bfloat16 tensors are computed in float32.

The ops dispatch on the tensor's device (``kernels(dev, op, name)``), so CUDA kernels with
the same binding names slot in; until then a CUDA tensor raises NotImplementedError.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from .. import _C
from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, float_dtype, int_tuple, is_int
from .creation import tensor
from .index import gather

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "max_pool2d"]

pool_with_indices = namedtuple("pool_with_indices", ["values", "indices"])


def _pool_input(input: Tensor, op: str) -> tuple[Tensor, bool, D.dtype]:
    check_tensor(input, op)
    if input.ndim not in (3, 4):
        raise ValueError(
            f"ember.{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
            f"{tuple(input.shape)}"
        )
    dtype = float_dtype(op, input)
    unbatched = input.ndim == 3
    return (input.unsqueeze(0) if unbatched else input), unbatched, dtype


def _pool_geometry(
    x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil: bool, op: str
) -> tuple:
    """(kernel, stride, padding, dilation, oh, ow); the sizes are checked by the kernels'
    geometry (``_C.pool2d_output_shape``)."""
    k = int_tuple(kernel_size, 2, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else stride
    s = int_tuple(s, 2, "stride", op)
    p = int_tuple(padding, 2, "padding", op)
    d = int_tuple(dilation, 2, "dilation", op)
    shape = _C.pool2d_output_shape(f"ember.{op}", list(x.shape), k, s, p, d, bool(ceil))
    return k, s, p, d, shape[2], shape[3]


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, geom: tuple, ceil: bool, dtype: D.dtype) -> tuple:
        k, s, p, d, oh, ow = geom
        cdt = compute_dtype(dtype)
        xc = cast(x, cdt).contiguous()
        out = empty((x.shape[0], x.shape[1], oh, ow), cdt, x.device)
        idx = empty((x.shape[0], x.shape[1], oh, ow), D.int64, x.device)
        kernels(x.device, "max_pool2d", "max_pool2d").max_pool2d(
            xc._impl, out._impl, idx._impl, k, s, p, d, bool(ceil)
        )
        ctx.save_for_backward(idx)
        ctx.meta = (x.shape, x.dtype, cdt)
        return cast(out, dtype), idx

    @staticmethod
    def backward(ctx: Context, g: Tensor, _gi: Any = None) -> tuple:
        (idx,) = ctx.saved_tensors
        shape, x_dt, cdt = ctx.meta
        gx = empty(shape, cdt, g.device)
        kernels(g.device, "max_pool2d", "max_pool2d_backward").max_pool2d_backward(
            cast(g, cdt).contiguous()._impl, idx._impl, gx._impl
        )
        return cast(gx, x_dt), None, None, None


def max_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling (padding counts as -inf; NaN propagates). With ``return_indices``
    also returns the int64 index of each maximum in its flattened (H * W) input plane.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) with
    H_out = (H + 2 padding - dilation (kH - 1) - 1) // stride + 1 (rounded up with ceil_mode).
    """
    x, unbatched, dtype = _pool_input(input, "max_pool2d")
    geom = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    out, idx = MaxPool2d.apply(x, geom, ceil_mode, dtype)
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return pool_with_indices(out, idx) if return_indices else out


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, geom: tuple, opts: tuple, dtype: D.dtype) -> Tensor:
        k, s, p, _, oh, ow = geom
        ceil, count_include_pad, divisor = opts
        cdt = compute_dtype(dtype)
        xc = cast(x, cdt).contiguous()
        out = empty((x.shape[0], x.shape[1], oh, ow), cdt, x.device)
        kernels(x.device, "avg_pool2d", "avg_pool2d").avg_pool2d(
            xc._impl, out._impl, k, s, p, ceil, count_include_pad, divisor
        )
        ctx.meta = (x.shape, x.dtype, cdt, k, s, p, opts)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        shape, x_dt, cdt, k, s, p, (ceil, count_include_pad, divisor) = ctx.meta
        gx = empty(shape, cdt, g.device)
        kernels(g.device, "avg_pool2d", "avg_pool2d_backward").avg_pool2d_backward(
            cast(g, cdt).contiguous()._impl, gx._impl, k, s, p, ceil, count_include_pad, divisor
        )
        return cast(gx, x_dt), None, None, None


def avg_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling with PyTorch's window and divisor rules.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) with
    H_out = (H + 2 padding - kH) // stride + 1 (rounded up with ceil_mode).
    """
    x, unbatched, dtype = _pool_input(input, "avg_pool2d")
    geom = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and (not is_int(divisor_override) or divisor_override < 1):
        raise ValueError(
            f"ember.avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}"
        )
    opts = (bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    out = AvgPool2d.apply(x, geom, opts, dtype)
    return out.squeeze(0) if unbatched else out


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, oh: int, ow: int, dtype: D.dtype) -> Tensor:
        cdt = compute_dtype(dtype)
        xc = cast(x, cdt).contiguous()
        out = empty((x.shape[0], x.shape[1], oh, ow), cdt, x.device)
        kernels(x.device, "adaptive_avg_pool2d", "adaptive_avg_pool2d").adaptive_avg_pool2d(
            xc._impl, out._impl
        )
        ctx.meta = (x.shape, x.dtype, cdt)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        shape, x_dt, cdt = ctx.meta
        gx = empty(shape, cdt, g.device)
        mod = kernels(g.device, "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward")
        mod.adaptive_avg_pool2d_backward(cast(g, cdt).contiguous()._impl, gx._impl)
        return cast(gx, x_dt), None, None, None


def _adaptive_size(x: Tensor, output_size: Any, op: str) -> tuple[int, int]:
    if is_int(output_size) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise ValueError(f"ember.{op}: output_size must be an int or a pair, got {output_size!r}")
    size = [x.shape[2 + i] if v is None else v for i, v in enumerate(output_size)]
    if not all(is_int(v) and v >= 1 for v in size):
        raise ValueError(f"ember.{op}: output_size must be positive ints, got {output_size!r}")
    return int(size[0]), int(size[1])


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a fixed output size: output cell o averages input rows
    [floor(o H / H_out), ceil((o + 1) H / H_out)) (same for columns). None in
    ``output_size`` keeps that input dimension.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """
    x, unbatched, dtype = _pool_input(input, "adaptive_avg_pool2d")
    oh, ow = _adaptive_size(x, output_size, "adaptive_avg_pool2d")
    out = AdaptiveAvgPool2d.apply(x, oh, ow, dtype)
    return out.squeeze(0) if unbatched else out


def adaptive_max_pool2d(
    input: Tensor, output_size: int | tuple[int | None, int | None], return_indices: bool = False
) -> Any:
    """Max pooling to a fixed output size over the windows of adaptive_avg_pool2d; the
    first maximum of a window wins (NaN counts as the maximum), and the gradient goes to
    it. ``return_indices`` also gives each maximum's flat position h * W + w.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """
    x, unbatched, _ = _pool_input(input, "adaptive_max_pool2d")
    oh, ow = _adaptive_size(x, output_size, "adaptive_max_pool2d")
    n, c, h, w = x.shape
    if h == 0 or w == 0:
        raise ValueError(f"ember.adaptive_max_pool2d: empty spatial size {(h, w)}")
    # The window argmax is found on the host (ints only); the values are one gather, so
    # autograd routes the gradient to the picked element.
    arr = np.asarray(x.detach().cpu().float() if x.dtype.itemsize < 4 else x.detach().cpu())
    idx = np.empty((n, c, oh, ow), np.int64)
    for i in range(oh):
        h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
        for j in range(ow):
            w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
            a = arr[:, :, h0:h1, w0:w1].reshape(n, c, -1).argmax(-1)
            idx[:, :, i, j] = (a // (w1 - w0) + h0) * w + a % (w1 - w0) + w0
    indices = tensor(idx, device=x.device)
    out = gather(x.reshape(n, c, h * w), 2, indices.reshape(n, c, oh * ow)).reshape(n, c, oh, ow)
    if unbatched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return pool_with_indices(out, indices) if return_indices else out
