"""Normalization layers: LayerNorm and RMSNorm over the trailing dimensions, GroupNorm
over channel groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _dtype as D
from ..ops.creation import empty
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _shape(normalized_shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not ns or any(not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in ns):
        raise ValueError(
            f"ember.nn.{op}: normalized_shape must be a positive int or a non-empty sequence of "
            f"them, got {normalized_shape!r}"
        )
    return ns


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and (biased) variance
    over the last ``len(normalized_shape)`` dimensions (PyTorch's arguments).

    ``weight`` starts at ones and ``bias`` at zeros; ``elementwise_affine=False`` drops
    both and ``bias=False`` only the bias.

    Shape: (*, *normalized_shape) -> same.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(empty(self.normalized_shape, dtype=dt, device=device))
            if bias:
                self.bias = Parameter(empty(self.normalized_shape, dtype=dt, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last ``len(normalized_shape)``
    dimensions. ``eps=None`` uses the machine epsilon of the input's dtype (as PyTorch).

    Shape: (*, *normalized_shape) -> same.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "RMSNorm")
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(empty(self.normalized_shape, dtype=dt, device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Group normalization: the channels split into ``num_groups`` groups, each normalized
    over its channels and positions, then a per-channel ``weight`` (ones) and ``bias``
    (zeros) unless ``affine=False``.

    Shape: (N, C, *) -> same.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(
                f"ember.nn.GroupNorm: num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps = float(eps)
        self.affine = bool(affine)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if self.affine:
            self.weight = Parameter(empty(num_channels, dtype=dt, device=device))
            self.bias = Parameter(empty(num_channels, dtype=dt, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
