"""Convolution layers: Conv1d and Conv2d (see ``ember.nn.functional.conv2d``)."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from ..ops._util import int_tuple as _tuple
from ..ops.conv import _conv
from ..ops.creation import empty
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class _ConvNd(Module):
    _nd = 2
    _name = "Conv2d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        op = f"nn.{self._name}"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"ember.{op}: {name} must be a positive int, got {v!r}")
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"ember.{op}: groups must be a positive int, got {groups!r}")
        if in_channels % groups:
            raise ValueError(
                f"ember.{op}: in_channels {in_channels} is not divisible by groups {groups}"
            )
        if out_channels % groups:
            raise ValueError(
                f"ember.{op}: out_channels {out_channels} is not divisible by groups {groups}"
            )
        if padding_mode != "zeros":
            if padding_mode in ("reflect", "replicate", "circular"):
                raise NotImplementedError(
                    f"ember.{op}: padding_mode={padding_mode!r} is not implemented; use 'zeros'"
                )
            raise ValueError(
                f"ember.{op}: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                f"'circular', got {padding_mode!r}"
            )
        nd = self._nd
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", op)
        if min(self.kernel_size) < 1:
            raise ValueError(f"ember.{op}: kernel_size must be positive, got {kernel_size!r}")
        self.stride = _tuple(stride, nd, "stride", op)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"ember.{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                    f"{padding!r}"
                )
            if padding == "same" and max(self.stride) != 1:
                raise ValueError(f"ember.{op}: padding='same' needs stride 1, got {self.stride}")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, nd, "padding", op)
            if min(self.padding) < 0:
                raise ValueError(f"ember.{op}: padding must be non-negative, got {padding!r}")
        self.dilation = _tuple(dilation, nd, "dilation", op)
        self.groups = groups
        self.padding_mode = padding_mode
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        self.weight = Parameter(
            empty(out_channels, in_channels // groups, *self.kernel_size, dtype=dt, device=device)
        )
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dt, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, i.e. U(-1/sqrt(fan_in),
        1/sqrt(fan_in)), and the bias from the same range."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return _conv(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self._nd,
            f"nn.{self._name}",
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer over NCHW input (PyTorch's arguments and initialization).

    Shape: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H + 2 padding - dilation (kernel_size - 1) - 1) // stride + 1.
    """

    _nd = 2
    _name = "Conv2d"


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, C, L) input, on the conv2d kernels.

    Shape: (N, C_in, L) or (C_in, L) -> (N, C_out, L_out) with
    L_out = (L + 2 padding - dilation (kernel_size - 1) - 1) // stride + 1.
    """

    _nd = 1
    _name = "Conv1d"
