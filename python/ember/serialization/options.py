"""The ``dtype=`` and ``map_location=`` options of loading: parsed once, applied to
every tensor."""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .. import cuda
from .._device import CPU, device, to_device
from ..tensor import Tensor

FLOAT_CHOICES = {d.name: d for d in (D.float32, D.bfloat16, D.float16, D.float64)}


def parse_dtype(dtype: Any, op: str = "ember.load") -> D.dtype | None:
    """None, or a floating ember dtype (or its name); ValueError listing the choices."""
    if dtype is None:
        return None
    found = dtype if isinstance(dtype, D.dtype) else FLOAT_CHOICES.get(dtype)
    if found is None or not found.is_floating_point:
        raise ValueError(
            f"{op}: dtype must be one of {', '.join(repr(k) for k in FLOAT_CHOICES)} (or the "
            f"ember dtype), got {dtype!r}"
        )
    return found


def parse_device(map_location: Any, op: str = "ember.load") -> device:
    """The device tensors load onto: the CPU for None, else ``map_location`` ("cpu",
    "cuda", "cuda:1" or an ember.device); RuntimeError for CUDA without a GPU."""
    if map_location is None:
        return CPU
    if not isinstance(map_location, (str, device)):
        raise TypeError(
            f"{op}: map_location must be None, a device name or an ember.device, got "
            f"{type(map_location).__name__}"
        )
    dev = to_device(map_location)
    if dev.type == "cuda" and not cuda.is_available():
        raise RuntimeError(f"{op}: map_location={str(dev)!r} but CUDA is not available")
    return dev


def convert(t: Tensor, dtype: D.dtype | None, dev: device) -> Tensor:
    """``t`` in ``dtype`` (floating tensors only; others keep theirs) on ``dev``."""
    if dtype is not None and t.dtype.is_floating_point and t.dtype is not dtype:
        t = t.to(dtype)
    return t.to(dev) if dev != t.device else t
