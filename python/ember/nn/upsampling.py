"""Upsample: the module form of F.interpolate."""

from __future__ import annotations

from typing import Any

from ..ops.resample import interpolate
from ..tensor import Tensor
from .module import Module


class Upsample(Module):
    """Resize the spatial dims to ``size`` or by ``scale_factor`` with ``mode``
    ('nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear'); see
    :func:`ember.nn.functional.interpolate`.

    Shape: (N, C, *spatial) -> (N, C, *size) or (N, C, *floor(spatial * scale_factor)).
    """

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("ember.nn.Upsample: give exactly one of size and scale_factor")
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, int) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
