"""``ember.backends.cuda``: torch's matmul precision flags. ``matmul.allow_tf32`` (or a
float32 matmul precision below 'highest') lets float32 GEMMs on CUDA tensors run on TF32
tensor cores, as in torch; the CPU kernels compute float32 in float32 whatever is set."""

from __future__ import annotations

from .. import cuda as _runtime

__all__ = ["get_float32_matmul_precision", "matmul", "set_float32_matmul_precision"]

_PRECISIONS = ("highest", "high", "medium")


class _MatmulFlags:
    """``matmul.allow_tf32`` mirrors the float32 matmul precision as in torch: True is
    'high' (or 'medium' if already set), False is 'highest'."""

    def __init__(self) -> None:
        self._precision = "highest"
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._precision = value
        _runtime._set_allow_tf32(value != "highest")

    @property
    def allow_tf32(self) -> bool:
        return self.precision != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        if not value:
            self.precision = "highest"
        elif self.precision == "highest":
            self.precision = "high"

    def __repr__(self) -> str:
        return f"matmul(allow_tf32={self.allow_tf32}, precision={self.precision!r})"


matmul = _MatmulFlags()


def set_float32_matmul_precision(precision: str) -> None:
    """Set torch's float32 matmul precision: 'highest', 'high' or 'medium'. Below
    'highest', float32 GEMMs on CUDA tensors may use TF32 tensor cores (10-bit mantissa
    products, float32 accumulation); CPU float32 matmuls stay full float32."""
    if precision not in _PRECISIONS:
        raise ValueError(
            f"ember.set_float32_matmul_precision: precision should be one of {_PRECISIONS}, "
            f"got {precision!r}"
        )
    matmul.precision = precision


def get_float32_matmul_precision() -> str:
    """The precision last set ('highest' by default)."""
    return matmul.precision
