"""Padding and resizing along spatial dims: pad (constant, reflect, replicate, circular)
and interpolate (nearest, nearest-exact, linear/bilinear/trilinear).

Both work one dimension at a time with index_select (a gather of whole slices: the
source position of every output position is computed on the host) and, for the linear
modes, a weighted sum of two gathers, so autograd comes from index_select's backward."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from ._util import check_tensor, is_int
from .creation import full, tensor
from .index import index_select
from .shape import cat, narrow

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(n: int, left: int, right: int, mode: str) -> np.ndarray:
    """Source positions along a dim of size n for every position of the padded dim."""
    pos = np.arange(-left, n + right)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    period = 2 * (n - 1)  # reflect: ... 2 1 [0 1 2 ... n-1] n-2 ...
    pos = np.abs(pos) % period if period else np.zeros_like(pos)
    return np.where(pos >= n, period - pos, pos)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: Any = None) -> Tensor:
    """Pad the last len(pad) // 2 dims: ``pad`` = (left, right) for the last dim, then
    (top, bottom) for the one before, ... Negative amounts crop. Modes: 'constant'
    (``value``, 0 by default), 'reflect' (mirror without the edge), 'replicate' (repeat
    the edge), 'circular' (wrap around).

    Shape: each padded dim grows by its two amounts.
    """
    check_tensor(input, "pad")
    if mode not in _PAD_MODES:
        raise ValueError(f"ember.pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(is_int(p) for p in pad):
        raise ValueError(f"ember.pad: pad must be an even-length sequence of ints, got {pad!r}")
    if len(pad) // 2 > input.ndim:
        raise ValueError(
            f"ember.pad: pad of length {len(pad)} names more dims than the input has ({input.ndim})"
        )
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"ember.pad: value= applies to mode 'constant' only, got mode {mode!r}")
    out = input
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        left, right = int(pad[2 * i]), int(pad[2 * i + 1])
        n = out.shape[d]
        if mode == "constant":
            out = _pad_constant(out, d, left, right, 0 if value is None else value)
            continue
        if mode == "reflect" and (left >= n or right >= n):
            raise ValueError(
                f"ember.pad: reflect padding ({left}, {right}) must be smaller than the size "
                f"{n} of dimension {d}"
            )
        if mode == "circular" and (left > n or right > n):
            raise ValueError(
                f"ember.pad: circular padding ({left}, {right}) can't exceed the size {n} of "
                f"dimension {d}"
            )
        if n == 0 and (left > 0 or right > 0):
            raise ValueError(f"ember.pad: can't pad an empty dimension {d} in mode {mode!r}")
        out = index_select(out, d, tensor(_pad_index(n, left, right, mode), device=out.device))
    return out


def _pad_constant(x: Tensor, d: int, left: int, right: int, value: Any) -> Tensor:
    n = x.shape[d]
    if left < 0 or right < 0:  # crop first
        start, stop = max(-left, 0), n - max(-right, 0)
        x = narrow(x, d, start, max(stop - start, 0))
        left, right = max(left, 0), max(right, 0)
    parts = []
    for amount in (left, None, right):
        if amount is None:
            parts.append(x)
        elif amount:
            shape = list(x.shape)
            shape[d] = amount
            parts.append(full(shape, value, dtype=x.dtype, device=x.device))
    return cat(parts, d) if len(parts) > 1 else x


# ---- interpolate ----------------------------------------------------------------------------
_LINEAR = {"linear": 3, "bilinear": 4, "trilinear": 5}
_MODES = ("nearest", "nearest-exact", *_LINEAR)


def _source(
    n_in: int, n_out: int, scale: float | None, align_corners: bool, mode: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per output position: the source index (nearest) or two indices and the weight of
    the second (linear), following PyTorch's coordinate rules."""
    dst = np.arange(n_out, dtype=np.float64)
    if mode.startswith("nearest"):
        # PyTorch computes the scale in float32 and uses 1/scale_factor when it is given
        r = np.float32(1.0 / scale) if scale else np.float32(n_in / n_out)
        shift = 0.5 if mode == "nearest-exact" else 0.0
        src = np.floor((dst.astype(np.float32) + np.float32(shift)) * r)
        return np.minimum(src.astype(np.int64), n_in - 1), None, None
    if align_corners:
        r = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = dst * r
    else:
        r = 1.0 / scale if scale else n_in / n_out
        src = np.maximum((dst + 0.5) * r - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims (all after batch and channel) to ``size`` or by
    ``scale_factor``: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' (4-D),
    'trilinear' (5-D), with PyTorch's align_corners rules.

    Shape: (N, C, *size) or (N, C, *floor(in * scale_factor)).
    """
    check_tensor(input, "interpolate")
    if mode not in _MODES:
        raise ValueError(f"ember.interpolate: mode must be one of {_MODES}, got {mode!r}")
    if antialias:
        raise ValueError("ember.interpolate: antialias=True is not supported")
    if input.ndim < 3:
        raise ValueError(
            f"ember.interpolate: input must be (N, C, *spatial), got shape {tuple(input.shape)}"
        )
    if mode in _LINEAR and input.ndim != _LINEAR[mode]:
        raise ValueError(
            f"ember.interpolate: mode {mode!r} needs a {_LINEAR[mode]}-D input, got {input.ndim}-D"
        )
    if mode.startswith("nearest") and align_corners is not None:
        raise ValueError("ember.interpolate: align_corners only applies to the linear modes")
    if not input.dtype.is_floating_point and mode in _LINEAR:
        raise TypeError(f"ember.interpolate: mode {mode!r} needs a floating tensor")
    spatial = input.shape[2:]
    k = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError("ember.interpolate: give exactly one of size and scale_factor")
    if size is not None:
        sizes = [int(size)] * k if is_int(size) else [int(s) for s in size]
        scales = [None] * k
    else:
        scales = (
            [float(scale_factor)] * k
            if not isinstance(scale_factor, (tuple, list))
            else [float(s) for s in scale_factor]
        )
        sizes = [int(math.floor(n * s)) for n, s in zip(spatial, scales)]
        if recompute_scale_factor:
            scales = [None] * k
    if len(sizes) != k or len(scales) != k:
        raise ValueError(f"ember.interpolate: expected {k} sizes for {k} spatial dims")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"ember.interpolate: output sizes must be positive, got {sizes}")
    out = input
    for j, (n_in, n_out, scale) in enumerate(zip(spatial, sizes, scales)):
        d = 2 + j
        i0, i1, w = _source(n_in, n_out, scale, bool(align_corners), mode)
        a = index_select(out, d, tensor(i0, device=out.device))
        if i1 is None:
            out = a
            continue
        b = index_select(out, d, tensor(i1, device=out.device))
        shape = [1] * out.ndim
        shape[d] = n_out
        wt = tensor(w.reshape(shape), dtype=out.dtype, device=out.device)
        out = a + (b - a) * wt
    return out
