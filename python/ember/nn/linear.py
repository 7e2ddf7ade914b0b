"""Linear (fully connected) layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import _dtype as D
from ..autograd.grad_mode import is_grad_enabled
from ..ops.creation import empty
from ..ops.shape import cat
from ..tensor import Tensor
from . import functional as F
from . import init
from ._derived_cache import DerivedCache
from .module import Module
from .parameter import Parameter

# The activations a Linear (and every stand-in for it: quantized, 2:4 sparse) accepts in
# forward(input, activation); None and "none" both mean no activation.
ACTIVATIONS = (None, "relu", "gelu", "gelu_tanh")


def check_activation(activation: Any, where: str) -> str | None:
    """``activation`` as one of :data:`ACTIVATIONS` ("none" is spelled None)."""
    act = None if activation == "none" else activation
    if act not in ACTIVATIONS:
        raise ValueError(
            f"{where}: activation must be None, 'relu', 'gelu' or 'gelu_tanh', got {activation!r}"
        )
    return act


def apply_activation(y: Tensor, act: str | None) -> Tensor:
    """``act(y)`` for a stand-in whose kernel does not fuse ``act``."""
    if act == "relu":
        return F.relu(y)
    if act == "gelu":
        return F.gelu(y)
    return F.gelu(y, approximate="tanh") if act == "gelu_tanh" else y


class Linear(Module):
    """y = x @ weight.T + bias, as one fused op (see ``ember.nn.functional.linear``).

    Weights are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's
    default: kaiming_uniform with a=sqrt(5)), and so is the bias.

    Shape: (*, in_features) -> (*, out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"ember.nn.Linear: {name} must be a non-negative int, got {v!r}")
        self.in_features = in_features
        self.out_features = out_features
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        self.weight = Parameter(empty(out_features, in_features, dtype=dt, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dt, device=device))
        else:
            self.register_parameter("bias", None)
        self._fused = DerivedCache()  # fused_forward's weights, on the first layer of a group
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor, activation: str = "none") -> Tensor:
        # activation ("none", "relu", "gelu", "gelu_tanh") is fused into the GEMM; models
        # pass it here rather than reaching for .weight, so a quantized stand-in that
        # fuses it its own way can take this layer's place.
        return F.linear(input, self.weight, self.bias, activation=activation)

    @staticmethod
    def fused_forward(layers: Sequence[Linear], input: Tensor) -> Tensor:
        """``cat([layer(input) for layer in layers], -1)`` as one GEMM over the
        concatenated weights. While gradients are recorded the weights are concatenated
        every call (autograd sees the cat); otherwise the first layer keeps the
        concatenation, rebuilt when any weight changes (for a sentence of a few tokens the
        copy cost a quarter of a MiniLM forward). Models with parallel projections of one
        input (Bert's query / key / value) call it through ``type(layer)``, so a stand-in
        class with its own ``fused_forward`` (ember.quant.QuantizedLinear) keeps the fusion.

        Shape: (*, in_features) -> (*, sum of the layers' out_features).
        """
        biases = [layer.bias for layer in layers]
        if any(b is None for b in biases) and not all(b is None for b in biases):
            return cat([layer(input) for layer in layers], dim=-1)
        weights = [layer.weight for layer in layers]

        def concatenate() -> tuple[Tensor, Tensor | None]:
            return cat(weights), None if biases[0] is None else cat(biases)

        if is_grad_enabled():
            weight, bias = concatenate()
        else:
            weight, bias = layers[0]._fused.get([*weights, *biases], concatenate)
        return F.linear(input, weight, bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input. Shape: any -> same."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input
