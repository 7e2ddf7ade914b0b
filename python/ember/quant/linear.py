"""QuantizedLinear: an int8 stand-in for nn.Linear at inference, on the int8 GEMM
(ember.ops.qgemm).

Weights are symmetric per-output-channel int8 (``weight ~= weight_int8 * weight_scale``).
Activations become uint8 codes either dynamically (each row gets its own asymmetric scale
and zero point at every call) or statically (one calibrated per-tensor scale and zero
point, stored as buffers). The zero point is folded into the GEMM's fp32 epilogue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import _dtype as D
from .._primitives import full
from ..nn._derived_cache import DerivedCache
from ..nn.linear import Linear, apply_activation, check_activation
from ..nn.module import Module
from ..ops.creation import empty, tensor
from ..ops.qgemm import (
    PackedInt8Weight,
    int8_linear,
    pack_int8_weight,
    quantize_rows_u8,
    quantize_u8_static,
)
from ..ops.shape import cat
from ..tensor import Tensor
from ._weights import per_channel_int8

# The epilogue fuses relu and erf-gelu; the tanh form runs after it.
_MAX_K = 65536  # int32 accumulators are exact up to this depth (ember.ops.qgemm)


class QuantizedLinear(Module):
    """y = act(x @ (weight * weight_scale[:, None]).T + bias) with int8 weights and uint8
    activations. Inference only (no gradients); on the CPU or, after ``.to("cuda")``, on
    CUDA (the input must be on the layer's device).

    The state_dict holds ``weight`` (N, K) int8, ``weight_scale`` (N,) float32, ``bias``
    (N,) float32 when there is one and, when ``static``, ``input_scale`` () float32 and
    ``input_zero_point`` () int32. The constructor allocates them uninitialized (a shell
    that a state_dict fills); :meth:`from_float` quantizes a trained nn.Linear.

    ``activation`` (None, "relu", "gelu", "gelu_tanh") is fused into the layer; a caller
    that fuses its own (``forward(x, activation="gelu")``, as nn.Linear allows) may pass
    one only when the layer has none.

    Shape: (*, in_features) float32 -> (*, out_features) float32.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        activation: str | None = None,
        static: bool = False,
    ):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(
                    f"ember.quant.QuantizedLinear: {name} must be an int >= 1, got {v!r}"
                )
        if in_features > _MAX_K:
            raise ValueError(
                f"ember.quant.QuantizedLinear: in_features {in_features} is above {_MAX_K}, the "
                "depth up to which the int8 GEMM accumulates exactly"
            )
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation, "ember.quant.QuantizedLinear")
        self.static = bool(static)
        self.register_buffer("weight", empty(out_features, in_features, dtype=D.int8))
        self.register_buffer("weight_scale", empty(out_features, dtype=D.float32))
        self.register_buffer("bias", empty(out_features, dtype=D.float32) if bias else None)
        if self.static:
            self.register_buffer("input_scale", tensor(1.0, dtype=D.float32))
            self.register_buffer("input_zero_point", tensor(0, dtype=D.int32))
        # (weight storage, its version, packed): packed again when either changes
        # (load_state_dict assigns new storage or copies in place).
        self._packed = DerivedCache()
        self._fused = DerivedCache()  # fused_forward's, on the first layer of a group
        # the static scale and zero point as Python numbers: read back once, not per call
        self._static_qparams = DerivedCache()

    @classmethod
    def from_float(
        cls,
        linear: Linear,
        activation: str | None = None,
        act_qparams: tuple[float, int] | None = None,
    ) -> QuantizedLinear:
        """Quantize a trained nn.Linear: per-output-channel int8 weights (see
        :func:`~ember.quant.per_channel_int8`); ``act_qparams`` = (scale, zero_point) makes
        the layer static (per-tensor uint8 input codes), None keeps it dynamic."""
        if not isinstance(linear, Linear):
            raise TypeError(
                f"ember.quant.QuantizedLinear.from_float: expected an nn.Linear, got "
                f"{type(linear).__name__}"
            )
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            activation=activation,
            static=act_qparams is not None,
        )
        layer.weight, layer.weight_scale = per_channel_int8(linear.weight)
        if linear.bias is not None:
            layer.bias = linear.bias.detach().float().contiguous().clone()
        if act_qparams is not None:
            layer.set_input_qparams(*act_qparams)
        return layer

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        """The calibrated per-tensor input qparams of a static layer."""
        where = "ember.quant.QuantizedLinear"
        if not self.static:
            raise ValueError(f"{where}: a dynamic layer has no input qparams")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"{where}: input scale must be a positive finite float, got {scale!r}")
        if (
            isinstance(zero_point, bool)
            or not isinstance(zero_point, int)
            or not 0 <= zero_point <= 255
        ):
            raise ValueError(
                f"{where}: input zero point must be an int in [0, 255], got {zero_point!r}"
            )
        self.input_scale = tensor(float(scale), dtype=D.float32)
        self.input_zero_point = tensor(zero_point, dtype=D.int32)

    def packed_weight(self) -> PackedInt8Weight:
        """The weight in the GEMM's packed layout of its device, packed on first use and
        again whenever the weight tensor's storage or contents changed (``.to()`` gives it
        new storage, so a moved layer packs again for its new device)."""
        return self._packed.get([self.weight], lambda: pack_int8_weight(self.weight))

    def forward(self, input: Tensor, activation: str | None = None) -> Tensor:
        where = "ember.quant.QuantizedLinear"
        act = check_activation(activation, where)
        if act is not None and self.activation is not None:
            raise ValueError(
                f"{where}: the layer already fuses {self.activation!r}; got activation={act!r} too"
            )
        act = act or self.activation
        if not isinstance(input, Tensor) or input.dtype is not D.float32:
            got = input.dtype if isinstance(input, Tensor) else type(input).__name__
            raise TypeError(f"{where}: expected a float32 tensor input, got {got}")
        if input.device != self.weight.device:
            raise ValueError(
                f"{where}: input is on {input.device} but the layer is on {self.weight.device}; "
                "move one of them with .to()"
            )
        k = self.in_features
        if input.ndim == 0 or input.shape[-1] != k:
            raise ValueError(
                f"{where}: input of shape {tuple(input.shape)} does not end in in_features = {k}"
            )
        return self._gemm(input, self.packed_weight(), self.weight_scale, self.bias, act)

    def _gemm(
        self, input: Tensor, packed: PackedInt8Weight, w_scale: Tensor, bias: Tensor | None, act
    ) -> Tensor:
        """Quantize ``input`` (this layer's way) and run the int8 GEMM against ``packed``."""
        n = packed.out_features
        lead = tuple(input.shape[:-1])
        x = input.detach().contiguous().reshape(-1, self.in_features)
        m = int(x.shape[0])
        if m == 0:
            return empty(*lead, n, dtype=D.float32, device=input.device)
        if self.static:
            scale, zero = self._static_qparams.get(
                [self.input_scale, self.input_zero_point],
                lambda: (float(self.input_scale), int(self.input_zero_point)),
            )
            q = quantize_u8_static(x, scale, zero)
            a_scale = full((m,), scale, D.float32, x.device)
            a_zero = full((m,), zero, D.int32, x.device)
        else:
            q, a_scale, a_zero = quantize_rows_u8(x)
        fused = act if act in ("relu", "gelu") else None
        # the zero points are in [0, 255]: quantize_rows_u8 made them, or quantize_u8_static
        # accepted the static one
        y = int8_linear(q, a_scale, a_zero, packed, w_scale, bias, fused, check_zero=False)
        y = apply_activation(y, None if act == fused else act)
        return y.reshape(*lead, n)

    @staticmethod
    def fused_forward(layers: Sequence[QuantizedLinear], input: Tensor) -> Tensor:
        """``cat([layer(input) for layer in layers], -1)`` with one input quantization and
        one GEMM over the layers' concatenated int8 weights (per-channel scales and per-row
        activation scales make that exact), packed once and again when any of their
        tensors changes. Static layers, fused activations and mixed biases run one by one.

        Shape: (*, in_features) -> (*, sum of the layers' out_features).
        """
        first = layers[0]
        if any(
            layer.static
            or layer.activation is not None
            or layer.in_features != first.in_features
            or (layer.bias is None) != (first.bias is None)
            for layer in layers
        ):
            return cat([layer(input) for layer in layers], dim=-1)
        tensors = [t for layer in layers for t in (layer.weight, layer.weight_scale, layer.bias)]

        def build() -> tuple[PackedInt8Weight, Tensor, Tensor | None]:
            bias = None if first.bias is None else cat([layer.bias for layer in layers])
            weight = cat([layer.weight for layer in layers])
            return pack_int8_weight(weight), cat([layer.weight_scale for layer in layers]), bias

        packed, scale, bias = first._fused.get(tensors, build)
        return first._gemm(input, packed, scale, bias, None)

    def dequantized_weight(self) -> Tensor:
        """The float32 weight the int8 codes stand for. Shape: (out_features, in_features)."""
        return self.weight.float() * self.weight_scale.reshape(-1, 1)

    def to_float(self) -> Linear:
        """An nn.Linear with the dequantized weight and the bias (activation not included)."""
        out = Linear(self.in_features, self.out_features, bias=self.bias is not None)
        out.weight.data = self.dequantized_weight()
        if self.bias is not None:
            out.bias.data = self.bias.clone()
        return out

    def extra_repr(self) -> str:
        s = (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
        if self.activation is not None:
            s += f", activation={self.activation!r}"
        if self.static:
            s += f", static, input_scale={float(self.input_scale):.6g}, "
            s += f"input_zero_point={int(self.input_zero_point)}"
        return s + (", dynamic" if not self.static else "")
