"""The cache a layer keeps of what its kernels derive from its tensors (a packed weight)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..tensor import Tensor


class DerivedCache:
    """A value derived from some tensors (a packed weight), built on first use and again
    whenever any of them changed: new storage (load_state_dict assigns) or an in-place
    write (the version counter moves)."""

    def __init__(self) -> None:
        self._key: list[tuple[Any, int]] | None = None
        self._value: Any = None

    def get(self, tensors: Sequence[Tensor | None], build: Callable[[], Any]) -> Any:
        key = [(t._impl, t._version) for t in tensors if t is not None]
        old = self._key
        if (
            old is None
            or len(old) != len(key)
            or any(a is not c or u != v for (a, u), (c, v) in zip(key, old))
        ):
            self._value, self._key = build(), key
        return self._value

    def __deepcopy__(self, memo: dict) -> DerivedCache:
        # A copied layer builds its own on first use: the key holds the original's tensors.
        return DerivedCache()

    def __copy__(self) -> DerivedCache:
        return DerivedCache()
