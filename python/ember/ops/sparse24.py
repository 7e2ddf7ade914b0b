"""2:4 semi-structured sparsity (csrc/cpu/sparse24): in every group of 4 consecutive input
columns of a weight row, 2 values are kept, so a Linear does half the multiply-adds and
reads 5 / 8 of its float32 weight bytes.

A (N, K) float32 weight, K a multiple of 4, is held as two tensors:

- ``values`` float32 (N, K / 2): the kept values, group after group, in column order;
- ``positions`` int8 (N, K / 2): each kept value's column within its group, 0..3.

``compress_2to4`` keeps each group's 2 values of largest magnitude (the lower column on
ties); ``decompress_2to4`` gives back the masked dense weight exactly. Many-token calls on
AVX-512 run a kernel that wants the weight re-laid out (``pack_rows16``); a caller that
keeps the packed form passes it to ``sparse24_linear`` instead of paying for it every call.
These ops are inference only: no gradients flow. CPU only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _dtype as D
from .._C import sparse24_rows16_elems, sparse24_rows16_min
from .._primitives import empty, kernels
from ..tensor import Tensor
from ._util import check_tensor, same_device

__all__ = [
    "PackedRows16",
    "compress_2to4",
    "decompress_2to4",
    "pack_rows16",
    "rows16_min_tokens",
    "sparse24_linear",
]


@dataclass(frozen=True)
class PackedRows16:
    """A compressed weight in the many-token kernel's layout (csrc/cpu/sparse24/sparse24.h):
    blocks of 16 rows side by side, values and permute indices.

    Shape: values (n_blocks * 16 * K / 2,) float32, ids (same,) int32."""

    values: Tensor
    ids: Tensor


def _cpu(op: str, *tensors: Tensor) -> None:
    dev = same_device(f"ops.sparse24.{op}", *tensors)
    if dev.type != "cpu":
        raise NotImplementedError(
            f"ember.ops.sparse24.{op}: 2:4 sparse kernels are CPU only, got a {dev} tensor"
        )


def _check(x: Tensor, dtype: D.dtype, op: str, arg: str) -> None:
    if x.dtype is not dtype:
        raise TypeError(f"ember.ops.sparse24.{op}: {arg} has dtype {x.dtype}, expected {dtype}")


def _check_k(k: int, op: str, what: str) -> None:
    if k <= 0 or k % 4 != 0:
        raise ValueError(
            f"ember.ops.sparse24.{op}: {what} K must be a positive multiple of 4 (2:4 groups), "
            f"got {k}"
        )


def compress_2to4(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Keep the 2 largest-|w| values of each group of 4 columns, with their positions.

    Shape: weight (N, K) float32, K a multiple of 4 -> values (N, K / 2) float32,
    positions (N, K / 2) int8.
    """
    op = "compress_2to4"
    weight = check_tensor(weight, f"ops.sparse24.{op}", "weight")
    _check(weight, D.float32, op, "weight")
    if weight.ndim != 2:
        raise ValueError(
            f"ember.ops.sparse24.{op}: weight must be 2-D (N, K), got shape {tuple(weight.shape)}"
        )
    _check_k(weight.shape[1], op, "the weight's row length")
    _cpu(op, weight)
    n, k = weight.shape
    values = empty((n, k // 2), D.float32, weight.device)
    positions = empty((n, k // 2), D.int8, weight.device)
    kernels(weight.device, op).sparse24_compress(
        weight.detach().contiguous()._impl, values._impl, positions._impl
    )
    return values, positions


def _check_compressed(values: Tensor, positions: Tensor, op: str) -> None:
    _check(values, D.float32, op, "values")
    _check(positions, D.int8, op, "positions")
    if values.ndim != 2 or tuple(values.shape) != tuple(positions.shape):
        raise ValueError(
            f"ember.ops.sparse24.{op}: values and positions must be 2-D of one shape (N, K / 2), "
            f"got {tuple(values.shape)} and {tuple(positions.shape)}"
        )
    _check_k(2 * values.shape[1], op, "the weight's row length")


def decompress_2to4(values: Tensor, positions: Tensor) -> Tensor:
    """The dense weight the compressed one stands for: zeros where values were dropped.

    Shape: values (N, K / 2) float32, positions (N, K / 2) int8 -> (N, K) float32.
    """
    op = "decompress_2to4"
    values = check_tensor(values, f"ops.sparse24.{op}", "values")
    positions = check_tensor(positions, f"ops.sparse24.{op}", "positions")
    _check_compressed(values, positions, op)
    _cpu(op, values, positions)
    out = empty((values.shape[0], 2 * values.shape[1]), D.float32, values.device)
    kernels(values.device, op).sparse24_decompress(
        values.detach().contiguous()._impl, positions.contiguous()._impl, out._impl
    )
    return out


def rows16_min_tokens() -> int | None:
    """Tokens (rows of x) from which ``sparse24_linear`` uses the packed layout under the
    current ISA; None when it never does (no AVX-512)."""
    n = int(sparse24_rows16_min())
    return None if n < 0 else n


def pack_rows16(values: Tensor, positions: Tensor) -> PackedRows16:
    """The many-token kernel's layout of a compressed weight, for ``sparse24_linear(packed=)``.

    Shape: values / positions (N, K / 2) -> PackedRows16 of ceil(N / 16) * 16 * K / 2 each.
    """
    op = "pack_rows16"
    values = check_tensor(values, f"ops.sparse24.{op}", "values")
    positions = check_tensor(positions, f"ops.sparse24.{op}", "positions")
    _check_compressed(values, positions, op)
    _cpu(op, values, positions)
    elems = int(sparse24_rows16_elems(values.shape[0], 2 * values.shape[1]))
    packed = PackedRows16(
        empty((elems,), D.float32, values.device), empty((elems,), D.int32, values.device)
    )
    kernels(values.device, op).sparse24_pack_rows16(
        values.detach().contiguous()._impl,
        positions.contiguous()._impl,
        packed.values._impl,
        packed.ids._impl,
    )
    return packed


def sparse24_linear(
    x: Tensor,
    values: Tensor,
    positions: Tensor,
    bias: Tensor | None = None,
    packed: PackedRows16 | None = None,
) -> Tensor:
    """x @ W.T + bias with W held 2:4-compressed (inference only: no gradients).
    ``packed``: ``pack_rows16(values, positions)``, kept by the caller (optional; used only
    by calls of at least ``rows16_min_tokens()`` tokens).

    Shape: x (*, K) float32, values / positions (N, K / 2), bias (N,) -> (*, N) float32.
    """
    op = "sparse24_linear"
    x = check_tensor(x, f"ops.sparse24.{op}")
    values = check_tensor(values, f"ops.sparse24.{op}", "values")
    positions = check_tensor(positions, f"ops.sparse24.{op}", "positions")
    _check(x, D.float32, op, "input")
    _check_compressed(values, positions, op)
    n, k = values.shape[0], 2 * values.shape[1]
    if x.ndim == 0 or x.shape[-1] != k:
        raise ValueError(
            f"ember.ops.sparse24.{op}: input of shape {tuple(x.shape)} does not end in K = {k} "
            f"(the compressed weight is {n} x {k})"
        )
    tensors = [x, values, positions]
    if bias is not None:
        bias = check_tensor(bias, f"ops.sparse24.{op}", "bias")
        _check(bias, D.float32, op, "bias")
        tensors.append(bias)
    _cpu(op, *tensors)
    lead = tuple(x.shape[:-1])
    x2 = x.detach().contiguous().reshape(-1, k)
    out = empty((x2.shape[0], n), D.float32, x.device)
    b = None if bias is None else bias.detach().contiguous()._impl
    pv, pi = (None, None) if packed is None else (packed.values._impl, packed.ids._impl)
    w = values.detach().contiguous()._impl
    kernels(x.device, op).sparse24_linear(
        x2._impl, w, positions.contiguous()._impl, b, out._impl, pv, pi
    )
    return out.reshape(*lead, n)
