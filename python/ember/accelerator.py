"""``ember.accelerator``: torch's device-agnostic accelerator queries. ember's only
accelerator is CUDA (see ``ember.cuda``)."""

from __future__ import annotations

from . import cuda
from ._device import device

__all__ = ["current_accelerator", "device_count", "is_available"]


def is_available() -> bool:
    """True if a CUDA GPU is usable by ember. Never raises."""
    return cuda.is_available()


def device_count() -> int:
    """Number of accelerators ember can use (0 on a CPU-only machine)."""
    return cuda.device_count() if cuda.is_available() else 0


def current_accelerator(check_available: bool = False) -> device | None:
    """``device('cuda')`` when ember has CUDA support (and, with ``check_available``, a
    GPU is present); otherwise None, as torch answers on a CPU-only build."""
    usable = cuda.is_available() if check_available else cuda.is_built()
    return device("cuda") if usable else None
