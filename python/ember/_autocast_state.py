"""The autocast regions of each thread: ``ember.amp.autocast`` enters and leaves them, the
ops that compute in lower precision inside them (linear, matmul) read them. It sits below
the ops so they can read it without importing ember.amp, which is above them."""

from __future__ import annotations

import threading
from typing import Any

_state = threading.local()
_lock = threading.Lock()
# Enabled regions entered and not yet left, over all threads: while 0, an op's test for
# autocast is one list read.
entered = [0]


def regions() -> dict[str, tuple[bool, Any, bool]]:
    """This thread's innermost region per device type: (enabled, dtype, cache_enabled)."""
    if not hasattr(_state, "regions"):
        _state.regions = {}
        _state.depth = 0
        _state.casts = {}
    return _state.regions


def enter(device_type: str, region: tuple[bool, Any, bool]) -> tuple | None:
    """Make ``region`` the innermost for device_type; returns what to pass to ``leave``."""
    previous = regions().get(device_type)
    _state.regions[device_type] = region
    _state.depth += 1
    if region[0]:
        with _lock:
            entered[0] += 1
    return previous


def leave(device_type: str, region: tuple[bool, Any, bool], previous: tuple | None) -> None:
    """Restore the region ``enter`` replaced; leaving the outermost region drops the cached
    casts (the parameters may change before the next region)."""
    if previous is None:
        _state.regions.pop(device_type, None)
    else:
        _state.regions[device_type] = previous
    _state.depth -= 1
    if region[0]:
        with _lock:
            entered[0] -= 1
    if _state.depth == 0:
        _state.casts.clear()


def compute_dtype(device_type: str) -> Any:
    """The dtype autocast asks ops on device_type to compute in; None outside an enabled
    region."""
    if not entered[0]:
        return None
    enabled, dtype, _ = regions().get(device_type, (False, None, False))
    return dtype if enabled else None


def cache_enabled(device_type: str) -> bool:
    return regions().get(device_type, (False, None, False))[2]


def cached_casts() -> dict:
    """This thread's casts of parameters made in the current outermost region:
    (id(tensor), grad mode) -> (tensor, its version when cast, the cast)."""
    regions()
    return _state.casts
