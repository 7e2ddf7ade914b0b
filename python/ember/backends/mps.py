"""``ember.backends.mps``: ember has no Apple-GPU (MPS) backend."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """False: ember has no MPS backend."""
    return False


def is_built() -> bool:
    """False: ember has no MPS backend."""
    return False
