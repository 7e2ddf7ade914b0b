"""Reverse-mode automatic differentiation: a tape of Function nodes built in Python."""

from .engine import backward
from .function import Context, Function
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "Context",
    "Function",
    "GradcheckError",
    "backward",
    "enable_grad",
    "gradcheck",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
]
