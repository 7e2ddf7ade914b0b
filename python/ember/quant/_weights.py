"""Symmetric per-output-channel int8 weights, the form every int8 layer here stores, and
the cache of what the kernels derive from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ops.creation import from_numpy
from ..tensor import Tensor


def per_channel_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Quantize each output channel (row) of ``weight`` to int8 with its own scale
    ``max|w| / 127`` (scale 1 for an all-zero row), rounding half to even, so that
    ``weight ~= q * scale[:, None]`` with every q in [-127, 127] (never -128: the
    kernels' u8 x s8 products then stay within int16 pairs).

    Shape: weight (N, *) float -> (q (N, *) int8, scale (N,) float32)."""
    w = weight.detach().float().numpy().astype(np.float64)
    rows = w.reshape(w.shape[0], -1)
    amax = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(rows.shape[0])
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8).reshape(w.shape)
    return from_numpy(q), from_numpy(scale.astype(np.float32))


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
