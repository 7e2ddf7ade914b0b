"""Ops that move or mask elements, composed of views, where, cat and index_select
(autograd comes from those parts): tril/triu, roll, flip, repeat, tile,
repeat_interleave, diag, meshgrid.

Composition was measured against torch (2 threads, a shared machine, so rough): roll of
a (64, 256, 256) float32 tensor is on par (two slice copies into one output, what a
kernel would do); tril is about 2.7x slower (39 ms vs 15 ms: a where over a broadcast
mask reads the mask and a zero); masks are built once per model, so a kernel can wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._primitives import full_scalar
from ..tensor import Tensor
from ._util import check_tensor, is_int, norm_dim, prod
from .creation import arange, tensor, zeros
from .elementwise import where
from .index import index_add, index_select
from .shape import _shape_arg, cat, expand, narrow, reshape, unsqueeze


# ---- triangles ----------------------------------------------------------------------------
def _triangle(op: str, input: Tensor, diagonal: int) -> Tensor:
    check_tensor(input, op)
    if input.ndim < 2:
        raise ValueError(f"ember.{op}: input must have at least 2 dimensions, got {input.ndim}")
    if not is_int(diagonal):
        raise TypeError(f"ember.{op}: diagonal must be an int, got {diagonal!r}")
    rows, cols = input.shape[-2:]
    # (rows, 1) and (cols,) broadcast to the matrix's offset cols - rows
    offset = arange(cols, device=input.device) - arange(rows, device=input.device).unsqueeze(1)
    keep = offset <= diagonal if op == "tril" else offset >= diagonal
    return where(keep, input, full_scalar(0, input.dtype, input.device))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (elements with col - row <= diagonal);
    the rest is zero. Batched over leading dims.

    Shape: same as input (at least 2-D).
    """
    return _triangle("tril", input, diagonal)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (elements with col - row >= diagonal);
    the rest is zero. Batched over leading dims.

    Shape: same as input (at least 2-D).
    """
    return _triangle("triu", input, diagonal)


# ---- roll / flip ------------------------------------------------------------------------------
def _ints(v: Any, op: str, name: str) -> tuple[int, ...]:
    vals = (v,) if is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if vals is None or not all(is_int(e) for e in vals):
        raise TypeError(f"ember.{op}: {name} must be an int or a sequence of ints, got {v!r}")
    return tuple(int(e) for e in vals)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Rotate elements along ``dims`` by ``shifts`` (elements pushed off one end come
    back at the other); with dims=None the flattened tensor is rolled.

    Shape: same as input.
    """
    check_tensor(input, "roll")
    shifts = _ints(shifts, "roll", "shifts")
    if dims is None:
        if len(shifts) != 1:
            raise ValueError("ember.roll: with dims=None, shifts must be a single int")
        return reshape(roll(reshape(input, -1), shifts, 0), input.shape)
    dims = _ints(dims, "roll", "dims")
    if len(shifts) != len(dims):
        raise ValueError(
            f"ember.roll: shifts and dims must have the same length, got {len(shifts)} and "
            f"{len(dims)}"
        )
    out = input
    for shift, dim in zip(shifts, dims):
        d = norm_dim(dim, input.ndim, "roll")
        n = input.shape[d]
        s = shift % n if n else 0
        if s:
            out = cat([narrow(out, d, n - s, s), narrow(out, d, 0, n - s)], d)
    return out


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch).

    Shape: same as input.
    """
    check_tensor(input, "flip")
    out = input
    for dim in _ints(dims, "flip", "dims"):
        d = norm_dim(dim, input.ndim, "flip")
        n = input.shape[d]
        out = index_select(out, d, arange(n - 1, -1, -1, device=input.device))
    return out


def fliplr(input: Tensor) -> Tensor:
    """Flip a (at least 2-D) tensor left to right (dim 1). Shape: same as input."""
    if input.ndim < 2:
        raise ValueError("ember.fliplr: input must be at least 2-D")
    return flip(input, 1)


def flipud(input: Tensor) -> Tensor:
    """Flip a (at least 1-D) tensor upside down (dim 0). Shape: same as input."""
    if input.ndim < 1:
        raise ValueError("ember.flipud: input must be at least 1-D")
    return flip(input, 0)


# ---- repeat / tile / repeat_interleave --------------------------------------------------------
def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile the tensor ``sizes[i]`` times along each dim (PyTorch's Tensor.repeat;
    extra leading sizes add dims).

    Shape: (sizes[0] * s0, sizes[1] * s1, ...) with input's shape padded by leading 1s.
    """
    check_tensor(input, "repeat")
    sizes = _shape_arg(sizes, "repeat")
    if len(sizes) < input.ndim:
        raise ValueError(
            f"ember.repeat: got {len(sizes)} repeat sizes for a {input.ndim}-d tensor; give at "
            "least one per dimension"
        )
    if any(s < 0 for s in sizes):
        raise ValueError(f"ember.repeat: sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...), then merged pairwise
    paired = reshape(input, *[v for s in shape for v in (1, s)])
    big = expand(paired, *[v for r, s in zip(sizes, shape) for v in (r, s)])
    return reshape(big, *[r * s for r, s in zip(sizes, shape)])


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """numpy's tile: like repeat, with missing leading repeat counts taken as 1.

    Shape: as for :func:`repeat`.
    """
    dims = _ints(dims, "tile", "dims")
    return repeat(input, *((1,) * (input.ndim - len(dims)) + dims))


def repeat_interleave(
    input: Tensor,
    repeats: Any = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Tensor:
    """Repeat each element (each slice along ``dim``) ``repeats`` times in place:
    [a, b] -> [a, a, b, b]. ``repeats`` is an int or a 1-D tensor of counts per slice;
    with dim=None the input is flattened first. ``repeat_interleave(counts)`` gives
    0, 0, ..., 1, ... (each index ``counts[i]`` times).

    Shape: input.shape with shape[dim] = the sum of the repeat counts.
    """
    check_tensor(input, "repeat_interleave")
    if repeats is None:
        counts = _counts(input, None)
        return tensor(np.repeat(np.arange(len(counts)), counts), device=input.device)
    if dim is None:
        input, dim = reshape(input, -1), 0
    d = norm_dim(dim, input.ndim, "repeat_interleave")
    n = input.shape[d]
    if is_int(repeats) or (isinstance(repeats, Tensor) and repeats.numel() == 1):
        r = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
        if r < 0:
            raise ValueError(f"ember.repeat_interleave: repeats must be non-negative, got {r}")
        s = tuple(input.shape)
        big = expand(unsqueeze(input, d + 1), *s[: d + 1], r, *s[d + 1 :])
        out = reshape(big, *s[:d], n * r, *s[d + 1 :])
    else:
        counts = _counts(repeats, n)
        index = tensor(np.repeat(np.arange(n), counts), device=input.device)
        out = index_select(input, d, index)
    if output_size is not None and out.shape[d] != output_size:
        raise ValueError(
            f"ember.repeat_interleave: output_size={output_size} but the repeats give "
            f"{out.shape[d]}"
        )
    return out


def _counts(repeats: Any, n: int | None) -> np.ndarray:
    if not isinstance(repeats, Tensor) or repeats.ndim != 1 or repeats.dtype.is_floating_point:
        raise TypeError("ember.repeat_interleave: repeats must be an int or a 1-D integer tensor")
    counts = np.asarray(repeats.detach().cpu().numpy(), dtype=np.int64)
    if n is not None and len(counts) != n:
        raise ValueError(
            f"ember.repeat_interleave: repeats has {len(counts)} entries for a dimension of "
            f"size {n}"
        )
    if (counts < 0).any():
        raise ValueError("ember.repeat_interleave: repeats must be non-negative")
    return counts


# ---- diag / meshgrid ------------------------------------------------------------------------
def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D input: a square matrix with input on the ``diagonal``-th diagonal. 2-D input:
    that diagonal as a 1-D tensor.

    Shape: (n + |diagonal|, n + |diagonal|) from (n,); (length of the diagonal,) from 2-D.
    """
    check_tensor(input, "diag")
    k = int(diagonal)
    if input.ndim == 1:
        n = input.shape[0]
        m = n + abs(k)
        rows = np.arange(n) + max(-k, 0)
        flat = tensor(rows * m + rows + k, device=input.device)
        out = zeros(m * m, dtype=input.dtype, device=input.device)
        return reshape(index_add(out, 0, flat, input), m, m)
    if input.ndim == 2:
        rows, cols = input.shape
        start_r, start_c = max(-k, 0), max(k, 0)
        length = max(0, min(rows - start_r, cols - start_c))
        r = np.arange(length) + start_r
        flat = tensor(r * cols + r - start_r + start_c, device=input.device)
        return index_select(reshape(input, -1), 0, flat)
    raise ValueError(f"ember.diag: input must be 1-D or 2-D, got {input.ndim}-D")


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (views made by expand). ``indexing='ij'``
    (PyTorch's default) gives shape (len0, len1, ...); 'xy' swaps the first two.

    Shape: each output is (len(t) for t in tensors), first two swapped for 'xy'.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"ember.meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for i, t in enumerate(tensors):
        check_tensor(t, "meshgrid", f"tensors[{i}]")
        if t.ndim > 1:
            raise ValueError(f"ember.meshgrid: tensors must be 0-D or 1-D, got {t.ndim}-D")
    flat = [reshape(t, -1) for t in tensors]
    swap = indexing == "xy" and len(flat) >= 2
    if swap:
        flat[0], flat[1] = flat[1], flat[0]
    shape = tuple(t.shape[0] for t in flat)
    grids = [
        expand(reshape(t, *[-1 if j == i else 1 for j in range(len(flat))]), shape)
        for i, t in enumerate(flat)
    ]
    if swap:  # 'xy' is 'ij' of the first two swapped, outputs swapped back
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def numel(input: Tensor) -> int:
    """The number of elements of input."""
    return prod(check_tensor(input, "numel").shape)
