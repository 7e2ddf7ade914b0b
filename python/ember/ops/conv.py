"""Convolution (conv1d, conv2d) as one coarse autograd op over the kernels in
csrc/cpu/conv: the forward calls one kernel, the backward three (grad input, weight, bias).

conv2d picks its algorithm per shape (``ember._C._conv_algo``): a depthwise kernel when
groups == in_channels > 1, a direct GEMM for 1x1 / stride 1 / no padding, Winograd
F(4x4, 3x3) for float32 3x3 / stride 1 with enough channels and output tiles
(EMBER_CONV_WINOGRAD=0 turns it off; csrc/cpu/conv/conv.h has the rule), else an implicit
GEMM that im2cols cache-sized tiles straight into the packed GEMM's panels. The CPU kernels
take float32 or float64; float16 / bfloat16 tensors are computed in float32.

The ops dispatch on the tensor's device (``kernels(dev, op, name)``). On CUDA, bfloat16 /
float16 convolutions run in their own dtype (tensor cores, float32 accumulation; csrc/cuda/
conv/conv_tc.h), and inside ``ember.autocast("cuda", ...)`` float32 operands are cast to the
region's dtype first, as torch's CUDA autocast does (the CPU autocast leaves conv alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _C
from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._autocast import autocast_operands
from ._util import check_tensor, compute_dtype, float_dtype, int_tuple, is_int, same_device
from .creation import zeros
from .resample import pad
from .shape import cat, stack

__all__ = ["conv1d", "conv2d", "unfold"]


def _contig(x: Tensor, dtype: D.dtype) -> Tensor:
    return cast(x, dtype).contiguous()


def _kernel_dtype(dtype: D.dtype, device: Any) -> D.dtype:
    """The dtype the kernels run in: 16-bit on CUDA as is (tensor cores), else the compute
    dtype (16-bit in float32 on the CPU)."""
    if device.type == "cuda" and dtype in (D.bfloat16, D.float16):
        return dtype
    return compute_dtype(dtype)


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
        out_shape: tuple,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = _kernel_dtype(dtype, x.device)
        one_d = x.ndim == 3
        x4 = _contig(x, cdt)
        w4 = _contig(w, cdt)
        if one_d:
            x4 = x4.reshape(x4.shape[0], x4.shape[1], 1, x4.shape[2])
            w4 = w4.reshape(w4.shape[0], w4.shape[1], 1, w4.shape[2])
        b4 = None if b is None else _contig(b, cdt)
        out = empty(out_shape if not one_d else (*out_shape[:2], 1, out_shape[2]), cdt, x.device)
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
            out = out.reshape(out_shape)
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
        if need_b and b_dt is not None:  # the bias kernel sums in float32 / float64
            g4 = _contig(g4, compute_dtype(g4.dtype))
            gb = empty((w4.shape[0],), g4.dtype, g4.device)
            mod.conv2d_backward_bias(g4._impl, gb._impl)
            gb = cast(gb, b_dt)
        return gx, gw, gb, None, None, None, None, None, None, None


def _pad_right(x: Tensor, extra: Sequence[int]) -> Tensor:
    """Zeros appended after the last element of each spatial dim (differentiable)."""
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
    dev = same_device(op, *tensors)
    if dev.type == "cuda":  # torch's CUDA autocast casts conv; its CPU autocast does not
        cast_ops = autocast_operands("cuda", input, weight, bias)
        if cast_ops is not None:
            input, weight, bias = cast_ops
            tensors = [t for t in cast_ops if t is not None]
    dtype = float_dtype(op, *tensors)
    if not is_int(groups) or groups < 1:
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
    stride = int_tuple(stride, nd, "stride", op)
    dilation = int_tuple(dilation, nd, "dilation", op)
    extra = (0,) * nd
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            if max(stride) != 1:
                raise ValueError(f"ember.{op}: padding='same' needs stride 1, got {stride}")
            total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            padding = tuple(t // 2 for t in total)
            extra = tuple(t - 2 * (t // 2) for t in total)  # odd totals: one more at the end
        else:
            raise ValueError(
                f"ember.{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}"
            )
    else:
        padding = int_tuple(padding, nd, "padding", op)
    if any(extra):
        x = _pad_right(x, extra)
    # Every size (channels, groups, stride, padding, dilation, kernel vs input) is checked here.
    out_shape = tuple(
        _C.conv_output_shape(
            f"ember.{op}", list(x.shape), list(weight.shape), stride, padding, dilation, groups
        )
    )
    if nd == 1:
        stride, padding, dilation = (1, stride[0]), (0, padding[0]), (1, dilation[0])
    out = ConvNd.apply(
        x, weight, bias, stride, padding, dilation, groups, activation, out_shape, dtype
    )
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


def unfold(
    input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """im2col: every sliding kernel_size block of the (zero-padded) input as a column,
    channel-major then kernel row then kernel column, as PyTorch's F.unfold. Composed of
    strided views and one stack, so autograd comes from those.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C * kh * kw, L), L = out_h * out_w.
    """
    check_tensor(input, "unfold")
    if input.ndim not in (3, 4):
        raise ValueError(
            f"ember.unfold: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
            f"{tuple(input.shape)}"
        )
    k = int_tuple(kernel_size, 2, "kernel_size", "unfold")
    d = int_tuple(dilation, 2, "dilation", "unfold")
    p = int_tuple(padding, 2, "padding", "unfold")
    s = int_tuple(stride, 2, "stride", "unfold")
    if min(*k, *d, *s) < 1 or min(p) < 0:
        raise ValueError(
            f"ember.unfold: kernel_size, dilation and stride must be >= 1 and padding >= 0, "
            f"got {k}, {d}, {s}, {p}"
        )
    x = input.unsqueeze(0) if input.ndim == 3 else input
    if any(p):
        x = pad(x, (p[1], p[1], p[0], p[0]))
    n, c, h, w = x.shape
    out = [(size - dd * (kk - 1) - 1) // ss + 1 for size, kk, dd, ss in zip((h, w), k, d, s)]
    if min(out) < 1:
        raise ValueError(
            f"ember.unfold: kernel {k} with dilation {d} does not fit the padded input {(h, w)}"
        )
    oh, ow = out
    cols = [
        x[:, :, i * d[0] : i * d[0] + s[0] * (oh - 1) + 1 : s[0],
          j * d[1] : j * d[1] + s[1] * (ow - 1) + 1 : s[1]]
        for i in range(k[0])
        for j in range(k[1])
    ]  # fmt: skip
    y = stack(cols, 2).reshape(n, c * k[0] * k[1], oh * ow)
    return y.squeeze(0) if input.ndim == 3 else y
