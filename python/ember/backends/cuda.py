"""``ember.backends.cuda``: torch's matmul precision flags, stored and read back (ember's
kernels do not use TF32 or reduced-precision reductions, so they change no result)."""

from __future__ import annotations

__all__ = ["get_float32_matmul_precision", "matmul", "set_float32_matmul_precision"]

_PRECISIONS = ("highest", "high", "medium")


class _MatmulFlags:
    """``matmul.allow_tf32`` mirrors the float32 matmul precision as in torch: True is
    'high' (or 'medium' if already set), False is 'highest'."""

    def __init__(self) -> None:
        self.precision = "highest"
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

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
    """Record torch's float32 matmul precision: 'highest', 'high' or 'medium'. ember's
    float32 matmuls stay full float32 (no TF32 or bfloat16 passes) whatever is set."""
    if precision not in _PRECISIONS:
        raise ValueError(
            f"ember.set_float32_matmul_precision: precision should be one of {_PRECISIONS}, "
            f"got {precision!r}"
        )
    matmul.precision = precision


def get_float32_matmul_precision() -> str:
    """The precision last set ('highest' by default)."""
    return matmul.precision
