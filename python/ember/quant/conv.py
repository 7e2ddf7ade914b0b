"""QuantizedConv2d: a Conv2d run as an int8 GEMM with static input quantization.

The input is quantized per tensor to uint8 codes (ember.ops.qgemm.quantize_u8_static) with
the (scale, zero_point) calibrated by ember.quant.quantize_static, unrolled (im2col) into
one row per output pixel, and multiplied with the int8 per-output-channel weights by
ember.ops.qgemm.int8_linear, whose epilogue applies both scales, the bias and an optional
fused ReLU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from ..nn.conv import Conv2d
from ..nn.module import Module
from ..ops._util import int_tuple
from ..ops.creation import from_numpy, full, ones, zeros
from ..ops.qgemm import PackedInt8Weight, int8_linear, pack_int8_weight, quantize_u8_static
from ..tensor import Tensor
from ._weights import per_channel_int8

_ACTIVATIONS = (None, "relu")


def _resolve_padding(
    padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for an int / pair / 'valid' / 'same' padding ('same'
    puts an odd total's extra row / column at the end, as ember.nn.Conv2d does)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = (d * (k - 1) for k, d in zip(kernel, dilation))
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = int_tuple(padding, 2, "padding", "quant.QuantizedConv2d")
    return (ph, ph, pw, pw)


def im2col_u8(
    q: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    dilation: tuple[int, int],
    pad_value: int,
) -> tuple[np.ndarray, int, int]:
    """Every kernel window of the uint8 codes as one row, ordered kernel row, kernel
    column, then channel (a conv weight permuted to (C_out, kh, kw, C_in)): channels
    innermost, so each of the kh * kw copies moves runs of C bytes. Padding is filled with
    ``pad_value`` (the zero point: the code of 0.0).

    Shape: q (N, C, H, W) uint8 -> (rows (N * OH * OW, kh * kw * C) uint8, OH, OW)."""
    top, bottom, left, right = padding
    n, c, h, w = q.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h, w = h + top + bottom, w + left + right
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(
            f"ember.quant.QuantizedConv2d: kernel {kernel} with dilation {dilation} does not fit "
            f"the padded input {(h, w)}"
        )
    nhwc = np.full((n, h, w, c), pad_value, np.uint8)
    nhwc[:, top : h - bottom, left : w - right] = q.transpose(0, 2, 3, 1)
    rows = np.empty((n, oh, ow, kh, kw, c), np.uint8)
    for i in range(kh):
        for j in range(kw):
            rows[:, :, :, i, j] = nhwc[:, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                       j * dw : j * dw + sw * (ow - 1) + 1 : sw]  # fmt: skip
    return rows.reshape(n * oh * ow, kh * kw * c), oh, ow


class QuantizedConv2d(Module):
    """An int8 Conv2d (groups 1): symmetric per-output-channel int8 weights, float32 bias,
    static per-tensor uint8 input quantization, optional fused ReLU.

    Build it with :meth:`from_float`; the constructor makes an empty shell of the right
    shapes (model folders load their weights into one).

    Shape: (N, C_in, H, W) or (C_in, H, W) float32 -> (N, C_out, H_out, W_out) float32,
    as nn.Conv2d.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        bias: bool = True,
        *,
        activation: str | None = None,
    ):
        super().__init__()
        op = "quant.QuantizedConv2d"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"ember.{op}: {name} must be a positive int, got {v!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"ember.{op}: activation must be None or 'relu', got {activation!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", op)
        self.stride = int_tuple(stride, 2, "stride", op)
        self.dilation = int_tuple(dilation, 2, "dilation", op)
        if min(*self.kernel_size, *self.stride, *self.dilation) < 1:
            raise ValueError(
                f"ember.{op}: kernel_size, stride and dilation must be positive, got "
                f"{self.kernel_size}, {self.stride}, {self.dilation}"
            )
        self.padding = padding
        self._pad = _resolve_padding(padding, self.kernel_size, self.dilation)
        if min(self._pad) < 0:
            raise ValueError(f"ember.{op}: padding must be non-negative, got {padding!r}")
        self.activation = activation
        shape = (out_channels, in_channels, *self.kernel_size)
        self.register_buffer("weight", zeros(*shape, dtype=D.int8))
        self.register_buffer("weight_scale", ones(out_channels, dtype=D.float32))
        self.register_buffer("bias", zeros(out_channels, dtype=D.float32) if bias else None)
        self.register_buffer("input_scale", ones((), dtype=D.float32))
        self.register_buffer("input_zero_point", zeros((), dtype=D.int32))
        self._packed: tuple[object, int, PackedInt8Weight] | None = None

    @classmethod
    def from_float(
        cls, conv: Conv2d, act_qparams: tuple[float, int], activation: str | None = None
    ) -> QuantizedConv2d:
        """Quantize ``conv``'s weights per output channel; ``act_qparams`` is the input's
        calibrated (scale, zero_point); ``activation='relu'`` fuses a following ReLU.
        TypeError for anything but a groups-1 nn.Conv2d."""
        if type(conv) is not Conv2d:
            raise TypeError(
                f"ember.quant.QuantizedConv2d.from_float: expected an nn.Conv2d, got "
                f"{type(conv).__name__}"
            )
        if conv.groups != 1:
            raise TypeError(
                f"ember.quant.QuantizedConv2d.from_float: grouped convolution (groups="
                f"{conv.groups}) is not supported; only groups=1"
            )
        scale, zero = act_qparams
        if not (np.isfinite(scale) and scale > 0) or not 0 <= int(zero) <= 255:
            raise ValueError(
                f"ember.quant.QuantizedConv2d.from_float: act_qparams must be (scale > 0, "
                f"zero_point in [0, 255]), got {act_qparams!r}"
            )
        q = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.bias is not None,
            activation=activation,
        )
        q.weight, q.weight_scale = per_channel_int8(conv.weight)
        if conv.bias is not None:
            q.bias = conv.bias.detach().float().contiguous()
        q.input_scale = full((), float(scale), dtype=D.float32)
        q.input_zero_point = full((), int(zero), dtype=D.int32)
        return q

    def packed_weight(self) -> PackedInt8Weight:
        """The weight as (C_out, kh * kw * C_in) in the GEMM's panel layout (im2col_u8's
        column order), packed on first use and again whenever the weight tensor's storage
        or contents changed (load_state_dict assigns new storage or copies in place)."""
        w = self.weight
        if self._packed is None or self._packed[0] is not w._impl or self._packed[1] != w._version:
            flat = w.permute(0, 2, 3, 1).reshape(self.out_channels, -1).contiguous()
            self._packed = (w._impl, w._version, pack_int8_weight(flat))
        return self._packed[2]

    def forward(self, input: Tensor) -> Tensor:
        unbatched = input.dim() == 3
        if input.dim() not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"ember.quant.QuantizedConv2d: expected input (N, {self.in_channels}, H, W) or "
                f"({self.in_channels}, H, W), got shape {tuple(input.shape)}"
            )
        x = input.unsqueeze(0) if unbatched else input
        scale, zero = float(self.input_scale.item()), int(self.input_zero_point.item())
        codes = quantize_u8_static(x.detach().float(), scale, zero).numpy().view(np.uint8)
        rows, oh, ow = im2col_u8(
            codes, self.kernel_size, self.stride, self._pad, self.dilation, zero
        )
        m = rows.shape[0]
        out = int8_linear(
            from_numpy(rows.view(np.int8)),
            from_numpy(np.full(m, scale, np.float32)),
            from_numpy(np.full(m, zero, np.int32)),
            self.packed_weight(),
            self.weight_scale,
            self.bias,
            self.activation,
        )
        # (N * OH * OW, C_out) pixel rows -> NCHW
        nchw = out.numpy().reshape(x.shape[0], oh * ow, self.out_channels).transpose(0, 2, 1)
        y = from_numpy(np.ascontiguousarray(nchw)).reshape(x.shape[0], self.out_channels, oh, ow)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        if self.activation:
            s += f", activation={self.activation!r}"
        return s
