"""BlockQuantLinear: weight-only Q8_0 / Q4_0 stand-in for nn.Linear (ember.ops.qblock), for
decoding where reading the weights, not the arithmetic, bounds the speed."""

from __future__ import annotations

from .. import _dtype as D
from ..nn.linear import Linear, apply_activation, check_activation
from ..nn.module import Module
from ..ops.creation import empty
from ..ops.qblock import (
    BLOCK,
    SCHEMES,
    dequantize_blocks,
    qblock_linear,
    quantize_q4_0,
    quantize_q8_0,
)
from ..tensor import Tensor

_QUANTIZE = {"q8_0": quantize_q8_0, "q4_0": quantize_q4_0}


def check_scheme(scheme: object, where: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"{where}: scheme must be 'q8_0' or 'q4_0', got {scheme!r}")
    return scheme  # type: ignore[return-value]


def block_quantizable(in_features: int) -> bool:
    """Whether rows of ``in_features`` values split into whole 32-value blocks."""
    return in_features > 0 and in_features % BLOCK == 0


class BlockQuantLinear(Module):
    """y = x @ W.T + bias with W held as ggml Q8_0 / Q4_0 blocks (raw bytes in an int8
    buffer ``weight``); the input is quantized to Q8_0 per block at each call. Inference
    only. ``in_features`` must be a multiple of 32.

    The state_dict holds ``weight`` (N, K / 32 * bytes per block) int8 and ``bias`` (N,)
    float32 when there is one; the constructor leaves them uninitialized (a shell).

    Shape: (*, in_features) float32 -> (*, out_features) float32.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, scheme: str = "q8_0"
    ):
        super().__init__()
        where = "ember.quant.BlockQuantLinear"
        self.scheme = check_scheme(scheme, where)
        if (
            isinstance(in_features, bool)
            or not isinstance(in_features, int)
            or not block_quantizable(in_features)
        ):
            raise ValueError(
                f"{where}: in_features must be a positive multiple of {BLOCK}, got {in_features!r}"
            )
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
            raise ValueError(f"{where}: out_features must be an int >= 1, got {out_features!r}")
        self.in_features, self.out_features = in_features, out_features
        row_bytes = in_features // BLOCK * SCHEMES[scheme]
        self.register_buffer("weight", empty(out_features, row_bytes, dtype=D.int8))
        self.register_buffer("bias", empty(out_features, dtype=D.float32) if bias else None)

    @classmethod
    def from_float(cls, linear: Linear, scheme: str = "q8_0") -> BlockQuantLinear:
        """Quantize a trained nn.Linear's weight to ``scheme`` blocks (the bias stays float32)."""
        if not isinstance(linear, Linear):
            raise TypeError(
                "ember.quant.BlockQuantLinear.from_float: expected an nn.Linear, got "
                f"{type(linear).__name__}"
            )
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, scheme=scheme)
        layer.weight = _QUANTIZE[scheme](linear.weight.detach().float().contiguous())
        if linear.bias is not None:
            layer.bias = linear.bias.detach().float().contiguous().clone()
        return layer

    def forward(self, input: Tensor, activation: str | None = None) -> Tensor:
        act = check_activation(activation, "ember.quant.BlockQuantLinear")
        y = qblock_linear(
            input.detach(), self.weight, self.scheme, self.out_features, self.in_features, self.bias
        )
        return apply_activation(y, act)

    def dequantized_weight(self) -> Tensor:
        """The float32 weight the blocks stand for. Shape: (out_features, in_features)."""
        return dequantize_blocks(self.weight, self.scheme)

    def to_float(self) -> Linear:
        """An nn.Linear with the dequantized weight and the bias."""
        out = Linear(self.in_features, self.out_features, bias=self.bias is not None)
        out.weight.data = self.dequantized_weight()
        if self.bias is not None:
            out.bias.data = self.bias.clone()
        return out

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, scheme={self.scheme!r}"
        )
