"""QuantizedConv2d: a Conv2d run as an int8 GEMM with static input quantization.

The input is quantized per tensor to uint8 codes with the (scale, zero_point) calibrated
by ember.quant.quantize_static and unrolled (im2col) into one row per output pixel in one
kernel call (ember.ops.qconv.quantize_im2col_u8); ember.ops.qgemm.int8_linear multiplies
the rows with the int8 per-output-channel weights, its epilogue applying both scales, the
bias and an optional fused ReLU; ember.ops.qconv.rows_to_nchw transposes the result back
to NCHW.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from ..nn._derived_cache import DerivedCache
from ..nn.conv import Conv2d
from ..nn.module import Module
from ..ops._util import int_tuple
from ..ops.creation import full, ones, zeros
from ..ops.qconv import quantize_im2col_u8, rows_to_nchw
from ..ops.qgemm import PackedInt8Weight, int8_linear, pack_int8_weight
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
        self._packed = DerivedCache()

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
        """The weight as (C_out, kh * kw * C_in) in the GEMM's panel layout (quantize_im2col_u8's
        column order), packed on first use and again whenever the weight tensor's storage
        or contents changed (load_state_dict assigns new storage or copies in place)."""
        w = self.weight
        return self._packed.get(
            [w],
            lambda: pack_int8_weight(
                w.permute(0, 2, 3, 1).reshape(self.out_channels, -1).contiguous()
            ),
        )

    def forward(self, input: Tensor) -> Tensor:
        unbatched = input.dim() == 3
        if input.dim() not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"ember.quant.QuantizedConv2d: expected input (N, {self.in_channels}, H, W) or "
                f"({self.in_channels}, H, W), got shape {tuple(input.shape)}"
            )
        x = input.unsqueeze(0) if unbatched else input
        scale, zero = float(self.input_scale.item()), int(self.input_zero_point.item())
        rows, oh, ow = quantize_im2col_u8(
            x.detach().float(), self.kernel_size, self.stride, self._pad, self.dilation, scale, zero
        )
        m = int(rows.shape[0])
        out = int8_linear(
            rows,
            full((m,), scale, dtype=D.float32),
            full((m,), zero, dtype=D.int32),
            self.packed_weight(),
            self.weight_scale,
            self.bias,
            self.activation,
        )
        y = rows_to_nchw(out, int(x.shape[0]), oh, ow)
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
