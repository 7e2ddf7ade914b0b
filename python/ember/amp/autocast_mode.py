"""autocast: torch's mixed-precision region, as an API.

The region records the requested device type and dtype (``is_autocast_enabled``,
``get_autocast_dtype`` read them back), but ember's ops keep their input dtypes inside
it: a float32 model computes in float32. Casting matmuls to bfloat16 on the CPU is
work for ember's speed issue; until then scripts that wrap their forward pass in
``autocast`` run unchanged, in full precision.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable
from typing import Any

from .. import _dtype as D
from .. import cuda

__all__ = ["autocast", "get_autocast_dtype", "is_autocast_enabled"]

_DEFAULT_DTYPE = {"cpu": D.bfloat16, "cuda": D.float16}
_LOW_PRECISION = (D.bfloat16, D.float16)
_state = threading.local()


def _regions() -> dict[str, tuple[bool, D.dtype]]:
    if not hasattr(_state, "regions"):
        _state.regions = {}
    return _state.regions


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region for ``device_type`` is active (per thread)."""
    return _regions().get(device_type, (False, None))[0]


def get_autocast_dtype(device_type: str) -> D.dtype:
    """The dtype autocast asks for on ``device_type`` (bfloat16 on cpu, float16 on cuda
    unless a region set another)."""
    if device_type not in _DEFAULT_DTYPE:
        raise ValueError(
            f"ember.get_autocast_dtype: device_type should be 'cpu' or 'cuda', got {device_type!r}"
        )
    return _regions().get(device_type, (False, _DEFAULT_DTYPE[device_type]))[1]


class autocast:  # noqa: N801 - torch's name
    """Context manager / decorator: ``with ember.autocast("cpu", dtype=ember.bfloat16):``.

    Records the region (see the module docstring: ops keep their dtypes). As torch,
    ``device_type='cuda'`` without a usable GPU, or a dtype other than bfloat16/float16,
    warns and disables the region.
    """

    def __init__(
        self,
        device_type: str,
        dtype: Any = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise ValueError(
                f"ember.autocast: device_type must be a str like 'cpu' or 'cuda', got "
                f"{type(device_type).__name__}"
            )
        if device_type not in _DEFAULT_DTYPE:
            raise RuntimeError(
                f"ember.autocast: device_type should be 'cpu' or 'cuda', got {device_type!r}"
            )
        self.device = device_type
        self.fast_dtype = _DEFAULT_DTYPE[device_type] if dtype is None else D.to_dtype(dtype)
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda" and not cuda.is_available():
            warnings.warn(
                "ember.autocast: device_type 'cuda' was given but CUDA is not available. "
                "Disabling autocast.",
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled and self.fast_dtype not in _LOW_PRECISION:
            warnings.warn(
                f"ember.autocast: {self.fast_dtype} is not an autocast dtype (bfloat16 or "
                "float16). Disabling autocast.",
                stacklevel=2,
            )
            self._enabled = False

    def __enter__(self) -> autocast:
        regions = _regions()
        self._prev = regions.get(self.device)
        regions[self.device] = (self._enabled, self.fast_dtype)
        return self

    def __exit__(self, *exc: Any) -> None:
        regions = _regions()
        if self._prev is None:
            regions.pop(self.device, None)
        else:
            regions[self.device] = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)

        return wrapper
