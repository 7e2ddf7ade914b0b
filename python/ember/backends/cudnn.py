"""``ember.backends.cudnn``: torch's cuDNN switches, stored so scripts can set and read
them. ember has no cuDNN (its CUDA kernels are its own) and its kernels are deterministic
already, so the flags change nothing."""

from __future__ import annotations

__all__ = [
    "allow_tf32",
    "benchmark",
    "deterministic",
    "enabled",
    "is_available",
    "version",
]

enabled: bool = True
benchmark: bool = False
deterministic: bool = False
allow_tf32: bool = True  # torch's default for convolutions


def is_available() -> bool:
    """False: ember does not use cuDNN."""
    return False


def version() -> None:
    """None: no cuDNN is loaded (torch's answer without it)."""
    return None
