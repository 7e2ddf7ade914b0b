"""Dropout layer."""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the others by
    ``1/(1-p)``; the identity in eval mode. Masks come from ember's seeded generator.

    Shape: any -> same.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"ember.nn.Dropout: p must be between 0 and 1, got {p}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
