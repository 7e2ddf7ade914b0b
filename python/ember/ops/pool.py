"""Convolution (conv1d, conv2d), pooling (max, average, adaptive average) and batch
normalization as coarse autograd ops over the kernels in csrc/cpu/conv. Each op is one
Function whose forward and backward call one kernel each (conv2d's backward: three).

conv2d picks its algorithm per shape (``ember._C._conv_algo``): a depthwise kernel when
groups == in_channels > 1, a direct GEMM for 1x1 / stride 1 / no padding, else an implicit
GEMM that im2cols cache-sized tiles straight into the packed GEMM's panels. The kernels
take float32 or float64; float16 / bfloat16 tensors are computed in float32.

The ops dispatch on the tensor's device (``kernels(dev, op, name)``), so CUDA kernels with
the same binding names slot in; until then a CUDA tensor raises NotImplementedError.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _dtype as D
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, empty, kernels, same_device
from .convert import cast

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "max_pool2d",
]

pool_with_indices = namedtuple("pool_with_indices", ["values", "indices"])


# ---- argument helpers -------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _tuple(v: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a sequence of n ints as an n-tuple of ints."""
    if _is_int(v):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) == n and all(_is_int(e) for e in v):
        return tuple(int(e) for e in v)
    raise ValueError(f"ember.{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")


def _float_dtype(op: str, *tensors: Tensor) -> D.dtype:
    dtype = D.result_type(*[(t.dtype, False) for t in tensors])
    if not dtype.is_floating_point:
        names = ", ".join(str(t.dtype) for t in tensors)
        raise TypeError(f"ember.{op}: needs floating-point tensors, got {names}")
    return dtype


def _contig(x: Tensor, dtype: D.dtype) -> Tensor:
    return cast(x, dtype).contiguous()


# ---- convolution --------------------------------------------------------------------------
class ConvNd(Function):
    """conv1d / conv2d (+ bias, + optional fused ReLU) as one op. conv1d runs as a conv2d
    of height 1 (views, no copies). Backward: grad input, grad weight and grad bias each
    one kernel call."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        stride: tuple,
        padding: tuple,
        dilation: tuple,
        groups: int,
        activation: str,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = compute_dtype(dtype)
        one_d = x.ndim == 3
        x4 = _contig(x, cdt)
        w4 = _contig(w, cdt)
        if one_d:
            x4 = x4.reshape(x4.shape[0], x4.shape[1], 1, x4.shape[2])
            w4 = w4.reshape(w4.shape[0], w4.shape[1], 1, w4.shape[2])
        b4 = None if b is None else _contig(b, cdt)
        n, _, h, wd = x4.shape
        k, _, kh, kw = w4.shape
        oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        out = empty((n, k, oh, ow), cdt, x.device)
        kernels(x.device, "conv2d", "conv2d_forward").conv2d_forward(
            x4._impl,
            w4._impl,
            None if b4 is None else b4._impl,
            out._impl,
            stride,
            padding,
            dilation,
            groups,
            activation,
        )
        ctx.args = (stride, padding, dilation, groups)
        ctx.one_d = one_d
        ctx.shapes = (x.shape, w.shape, x.dtype, w.dtype, None if b is None else b.dtype)
        ctx.save_for_backward(x4, w4, out if activation == "relu" else None)
        if one_d:
            out = out.reshape(n, k, ow)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        x4, w4, out = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.args
        x_shape, w_shape, x_dt, w_dt, b_dt = ctx.shapes
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        mod = kernels(g.device, "conv2d", "conv2d_backward_input")
        g4 = _contig(g, x4.dtype)
        if ctx.one_d:
            g4 = g4.reshape(g4.shape[0], g4.shape[1], 1, g4.shape[2])
        if out is not None:  # fused ReLU: gradient flows where the output is positive
            g4 = (g4 * (out > 0)).contiguous()
        gx = gw = gb = None
        if need_x:
            gx = empty(x4.shape, x4.dtype, x4.device)
            mod.conv2d_backward_input(
                g4._impl, w4._impl, gx._impl, stride, padding, dilation, groups
            )
            gx = cast(gx.reshape(x_shape), x_dt)
        if need_w:
            gw = empty(w4.shape, w4.dtype, w4.device)
            mod.conv2d_backward_weight(
                g4._impl, x4._impl, gw._impl, stride, padding, dilation, groups
            )
            gw = cast(gw.reshape(w_shape), w_dt)
        if need_b and b_dt is not None:
            gb = empty((w4.shape[0],), w4.dtype, w4.device)
            mod.conv2d_backward_bias(g4._impl, gb._impl)
            gb = cast(gb, b_dt)
        return gx, gw, gb, None, None, None, None, None, None


def _pad_right(x: Tensor, extra: Sequence[int]) -> Tensor:
    """Zeros appended after the last element of each spatial dim (differentiable)."""
    from .creation import zeros
    from .shape import cat

    nd = len(extra)
    for i, e in enumerate(extra):
        if e:
            dim = x.ndim - nd + i
            shape = list(x.shape)
            shape[dim] = e
            x = cat([x, zeros(*shape, dtype=x.dtype, device=x.device)], dim)
    return x


def _conv(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    nd: int,
    op: str,
    activation: str = "none",
) -> Tensor:
    check_tensor(input, op)
    check_tensor(weight, op, "weight")
    tensors = [input, weight]
    if bias is not None:
        check_tensor(bias, op, "bias")
        tensors.append(bias)
    same_device(op, *tensors)
    dtype = _float_dtype(op, *tensors)
    if activation not in ("none", "relu"):
        raise ValueError(f"ember.{op}: activation must be 'none' or 'relu', got {activation!r}")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"ember.{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"ember.{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
            f"got shape {tuple(input.shape)}"
        )
    if weight.ndim != nd + 2:
        raise ValueError(
            f"ember.{op}: expected a {nd + 2}-D weight (out_channels, in_channels / groups, "
            f"*kernel_size), got shape {tuple(weight.shape)}"
        )
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    c, k, cg = x.shape[1], weight.shape[0], weight.shape[1]
    if cg * groups != c:
        raise ValueError(
            f"ember.{op}: weight of shape {tuple(weight.shape)} expects {cg * groups} input "
            f"channels ({cg} per group x {groups} groups), but the input of shape "
            f"{tuple(input.shape)} has {c}"
        )
    if k % groups:
        raise ValueError(
            f"ember.{op}: out_channels {k} (weight of shape {tuple(weight.shape)}) is not "
            f"divisible by groups {groups}"
        )
    if bias is not None and tuple(bias.shape) != (k,):
        raise ValueError(
            f"ember.{op}: bias of shape {tuple(bias.shape)} does not match out_channels {k}"
        )
    ksize = tuple(weight.shape[2:])
    if min(ksize, default=1) < 1:
        raise ValueError(f"ember.{op}: kernel size must be positive, got {ksize}")
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    if min(stride) < 1:
        raise ValueError(f"ember.{op}: stride must be positive, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"ember.{op}: dilation must be positive, got {dilation}")
    extra = (0,) * nd
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            if max(stride) != 1:
                raise ValueError(f"ember.{op}: padding='same' needs stride 1, got {stride}")
            total = [d * (kk - 1) for d, kk in zip(dilation, ksize)]
            padding = tuple(t // 2 for t in total)
            extra = tuple(t - 2 * (t // 2) for t in total)  # odd totals: one more at the end
        else:
            raise ValueError(
                f"ember.{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}"
            )
    else:
        padding = _tuple(padding, nd, "padding", op)
        if min(padding) < 0:
            raise ValueError(f"ember.{op}: padding must be non-negative, got {padding}")
    if any(extra):
        x = _pad_right(x, extra)
    spatial = tuple(x.shape[2:])
    for i in range(nd):
        eff = dilation[i] * (ksize[i] - 1) + 1
        if eff > spatial[i] + 2 * padding[i]:
            raise ValueError(
                f"ember.{op}: kernel size {ksize} (dilated {eff} along dim {i}) is larger than "
                f"the padded input: input of shape {tuple(input.shape)}, padding {padding}"
            )
    if nd == 1:
        stride, padding, dilation = (1, stride[0]), (0, padding[0]), (1, dilation[0])
    out = ConvNd.apply(x, weight, bias, stride, padding, dilation, groups, activation, dtype)
    return out.squeeze(0) if unbatched else out


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    *,
    activation: str = "none",
) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over NCHW input.

    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input
    size; stride 1). ``activation='relu'`` fuses a ReLU into the kernel's epilogue (an
    ember extension, differentiable).

    Shape: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kH, kW),
    bias (C_out,) -> (N, C_out, H_out, W_out) with
    H_out = (H + 2 padding - dilation (kH - 1) - 1) // stride + 1 (same for W).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d", activation)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    activation: str = "none",
) -> Tensor:
    """1-D convolution over (N, C, L) input, on the conv2d kernels (height 1).

    Shape: input (N, C_in, L) or (C_in, L), weight (C_out, C_in / groups, K), bias (C_out,)
    -> (N, C_out, L_out), L_out = (L + 2 padding - dilation (K - 1) - 1) // stride + 1.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d", activation)


# ---- pooling ------------------------------------------------------------------------------
def _pool_input(input: Tensor, op: str) -> tuple[Tensor, bool, D.dtype]:
    check_tensor(input, op)
    if input.ndim not in (3, 4):
        raise ValueError(
            f"ember.{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
            f"{tuple(input.shape)}"
        )
    dtype = _float_dtype(op, input)
    unbatched = input.ndim == 3
    return (input.unsqueeze(0) if unbatched else input), unbatched, dtype


def _pool_geometry(
    x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil: bool, op: str
) -> tuple:
    k = _tuple(kernel_size, 2, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else stride
    s = _tuple(s, 2, "stride", op)
    p = _tuple(padding, 2, "padding", op)
    d = _tuple(dilation, 2, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(
            f"ember.{op}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}"
        )
    if min(p) < 0:
        raise ValueError(f"ember.{op}: padding must be non-negative, got {p}")
    for i in range(2):
        eff = d[i] * (k[i] - 1) + 1
        if 2 * p[i] > eff:
            raise ValueError(
                f"ember.{op}: padding {p} must be at most half the (dilated) kernel size {k}"
            )
    from .. import _C

    oh = _C.pool_output_size(x.shape[2], k[0], s[0], p[0], d[0], bool(ceil))
    ow = _C.pool_output_size(x.shape[3], k[1], s[1], p[1], d[1], bool(ceil))
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"ember.{op}: input of shape {tuple(x.shape)} is too small for kernel_size {k}, "
            f"padding {p} and dilation {d}"
        )
    return k, s, p, d, oh, ow


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, geom: tuple, ceil: bool, dtype: D.dtype) -> tuple:
        k, s, p, d, oh, ow = geom
        cdt = compute_dtype(dtype)
        xc = _contig(x, cdt)
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
            _contig(g, cdt)._impl, idx._impl, gx._impl
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
        xc = _contig(x, cdt)
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
            _contig(g, cdt)._impl, gx._impl, k, s, p, ceil, count_include_pad, divisor
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
    if divisor_override is not None and (not _is_int(divisor_override) or divisor_override < 1):
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
        xc = _contig(x, cdt)
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
        mod.adaptive_avg_pool2d_backward(_contig(g, cdt)._impl, gx._impl)
        return cast(gx, x_dt), None, None, None


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a fixed output size: output cell o averages input rows
    [floor(o H / H_out), ceil((o + 1) H / H_out)) (same for columns). None in
    ``output_size`` keeps that input dimension.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).
    """
    x, unbatched, dtype = _pool_input(input, "adaptive_avg_pool2d")
    if _is_int(output_size) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise ValueError(
            f"ember.adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}"
        )
    size = [x.shape[2 + i] if v is None else v for i, v in enumerate(output_size)]
    if not all(_is_int(v) and v >= 1 for v in size):
        raise ValueError(
            f"ember.adaptive_avg_pool2d: output_size must be positive ints, got {output_size!r}"
        )
    if x.numel() > 0 and min(x.shape[2:]) < 1:
        raise ValueError(
            f"ember.adaptive_avg_pool2d: input of shape {tuple(input.shape)} has an empty "
            "spatial dimension"
        )
    out = AdaptiveAvgPool2d.apply(x, int(size[0]), int(size[1]), dtype)
    return out.squeeze(0) if unbatched else out


# ---- batch norm ---------------------------------------------------------------------------
class BatchNorm(Function):
    """Batch norm over (N, C, *) as one op: the forward kernel computes the batch
    statistics, updates the running ones in place and normalizes; the backward kernel
    returns grad input, weight and bias together."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        training: bool,
        momentum: float,
        eps: float,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = compute_dtype(dtype)
        xc = _contig(x, cdt)
        wc = None if weight is None else _contig(weight, cdt)
        bc = None if bias is None else _contig(bias, cdt)
        c = x.shape[1]
        # Running statistics are updated in place: hand the kernel a contiguous tensor of
        # the compute dtype, and copy back when that had to be a copy.
        stats = []
        for r in (running_mean, running_var):
            if r is None:
                stats.append((None, None))
            else:
                rc = r if (r.dtype is cdt and r.is_contiguous()) else _contig(r, cdt)
                stats.append((r, rc))
        out = empty(x.shape, cdt, x.device)
        save_mean = empty((c,), cdt, x.device)
        save_invstd = empty((c,), cdt, x.device)
        imp = lambda t: None if t is None else t._impl  # noqa: E731
        kernels(x.device, "batch_norm", "batch_norm_forward").batch_norm_forward(
            xc._impl,
            imp(wc),
            imp(bc),
            imp(stats[0][1]),
            imp(stats[1][1]),
            out._impl,
            save_mean._impl,
            save_invstd._impl,
            bool(training),
            float(momentum),
            float(eps),
        )
        if training:
            for r, rc in stats:
                if r is None:
                    continue
                if rc is not r:
                    from .convert import _copy_kernel

                    _copy_kernel(rc, r)
                r._bump_version()
        ctx.save_for_backward(xc, wc, save_mean, save_invstd)
        ctx.meta = (
            bool(training),
            x.dtype,
            None if weight is None else weight.dtype,
            None if bias is None else bias.dtype,
        )
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        xc, wc, save_mean, save_invstd = ctx.saved_tensors
        training, x_dt, w_dt, b_dt = ctx.meta
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        cdt = xc.dtype
        gx = empty(xc.shape, cdt, xc.device) if need_x else None
        gw = empty((xc.shape[1],), cdt, xc.device) if need_w and w_dt is not None else None
        gb = empty((xc.shape[1],), cdt, xc.device) if need_b and b_dt is not None else None
        imp = lambda t: None if t is None else t._impl  # noqa: E731
        kernels(g.device, "batch_norm", "batch_norm_backward").batch_norm_backward(
            _contig(g, cdt)._impl,
            xc._impl,
            imp(wc),
            save_mean._impl,
            save_invstd._impl,
            imp(gx),
            imp(gw),
            imp(gb),
            training,
        )
        return (
            None if gx is None else cast(gx, x_dt),
            None if gw is None else cast(gw, w_dt),
            None if gb is None else cast(gb, b_dt),
            None,
            None,
            None,
            None,
            None,
            None,
        )


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over dim 1: y = (x - mean) / sqrt(var + eps) * weight + bias.

    training: mean and (biased) variance of the batch over every dim but 1; the running
    statistics, when given, are updated in place as (1 - momentum) running + momentum
    batch (the variance unbiased, as in PyTorch). Otherwise the running statistics are
    used.

    Shape: input (N, C, *) ; running_mean, running_var, weight, bias (C,) -> (N, C, *).
    """
    op = "batch_norm"
    check_tensor(input, op)
    if input.ndim < 2:
        raise ValueError(
            f"ember.batch_norm: expected an input of at least 2 dimensions (N, C, *), got "
            f"shape {tuple(input.shape)}"
        )
    c = input.shape[1]
    tensors = [input]
    named = (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    )
    for name, t in named:
        if t is None:
            continue
        check_tensor(t, op, name)
        if tuple(t.shape) != (c,):
            raise ValueError(
                f"ember.batch_norm: {name} of shape {tuple(t.shape)} does not match the "
                f"{c} channels of the input of shape {tuple(input.shape)}"
            )
        tensors.append(t)
    same_device(op, *tensors)
    dtype = _float_dtype(op, input)
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            "ember.batch_norm: running_mean and running_var are needed when not training"
        )
    if training and (running_mean is None) != (running_var is None):
        raise ValueError("ember.batch_norm: pass both running_mean and running_var, or neither")
    if training and input.numel() // max(c, 1) <= 1:
        raise ValueError(
            "ember.batch_norm: expected more than 1 value per channel when training, got input "
            f"of shape {tuple(input.shape)}"
        )
    return BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean,
        running_var,
        bool(training),
        float(momentum),
        float(eps),
        dtype,
    )
