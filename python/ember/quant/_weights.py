"""Symmetric per-output-channel int8 weights, the form every int8 layer here stores."""

from __future__ import annotations

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
