"""Block quantization in ggml's Q8_0 and Q4_0 layouts (csrc/cpu/qblock), for weight-only
quantized inference where the weights' bytes, not the arithmetic, bound the speed.

A row of K floats (K a multiple of 32) becomes K / 32 blocks of 32 values; blocks are held
as int8 tensors of raw bytes, exactly as ggml lays them out:

- ``q8_0``: 34 bytes a block, an fp16 scale d then 32 int8 q; x = d * q.
- ``q4_0``: 18 bytes a block, an fp16 scale d then 16 bytes, byte j holding value j in its
  low nibble and value j + 16 in its high nibble, each as q + 8; x = d * (q - 8).

``qblock_linear`` quantizes its input to Q8_0 per block (as ggml does) and sums integer dot
products per block scaled by d_w * d_x. These ops are inference only: no gradients flow.
"""

from __future__ import annotations

from .. import _dtype as D
from .._primitives import empty, kernels
from ..tensor import Tensor
from ._util import check_tensor, same_device

__all__ = [
    "SCHEMES",
    "block_bytes",
    "dequantize_blocks",
    "qblock_linear",
    "quantize_q4_0",
    "quantize_q8_0",
]

SCHEMES = {"q8_0": 34, "q4_0": 18}  # scheme -> bytes per block of 32 values
BLOCK = 32


def block_bytes(scheme: str, k: int) -> int:
    """Bytes of one quantized row of k values (k a multiple of 32)."""
    return _scheme(scheme, "block_bytes") * (k // BLOCK)


def _scheme(scheme: str, op: str) -> int:
    if scheme not in SCHEMES:
        raise ValueError(
            f"ember.ops.qblock.{op}: unknown block scheme {scheme!r} (expected 'q8_0' or 'q4_0')"
        )
    return SCHEMES[scheme]


def _check_f32(x: Tensor, op: str, arg: str) -> None:
    if x.dtype is not D.float32:
        raise TypeError(f"ember.ops.qblock.{op}: {arg} has dtype {x.dtype}, expected float32")


def _quantize(x: Tensor, scheme: str, op: str) -> Tensor:
    x = check_tensor(x, f"ops.qblock.{op}")
    nbytes = _scheme(scheme, op)
    _check_f32(x, op, "input")
    if x.ndim != 2 or x.shape[1] % BLOCK != 0 or x.shape[1] == 0:
        raise ValueError(
            f"ember.ops.qblock.{op}: expected a float32 (N, K) input with K a positive "
            f"multiple of 32, got shape {tuple(x.shape)}"
        )
    dev = same_device(f"ops.qblock.{op}", x)
    out = empty((x.shape[0], x.shape[1] // BLOCK * nbytes), D.int8, dev)
    kernels(dev, op, "qblock_quantize").qblock_quantize(x.contiguous()._impl, out._impl, scheme)
    return out


def quantize_q8_0(x: Tensor) -> Tensor:
    """ggml Q8_0 blocks of each row: d = amax / 127, q = round(x / d).

    Shape: (N, K) float32, K a multiple of 32 -> (N, K / 32 * 34) int8 bytes.
    """
    return _quantize(x, "q8_0", "quantize_q8_0")


def quantize_q4_0(x: Tensor) -> Tensor:
    """ggml Q4_0 blocks of each row: d = (value of largest magnitude) / -8,
    q = min(15, trunc(x / d + 8.5)), two values a byte (j low, j + 16 high).

    Shape: (N, K) float32, K a multiple of 32 -> (N, K / 32 * 18) int8 bytes.
    """
    return _quantize(x, "q4_0", "quantize_q4_0")


def dequantize_blocks(blocks: Tensor, scheme: str) -> Tensor:
    """The float32 values the blocks stand for.

    Shape: (N, K / 32 * bytes per block) int8 -> (N, K) float32.
    """
    op = "dequantize_blocks"
    blocks = check_tensor(blocks, f"ops.qblock.{op}", "blocks")
    nbytes = _scheme(scheme, op)
    if blocks.dtype is not D.int8:
        raise TypeError(f"ember.ops.qblock.{op}: blocks has dtype {blocks.dtype}, expected int8")
    if blocks.ndim != 2 or blocks.shape[1] % nbytes != 0 or blocks.shape[1] == 0:
        raise ValueError(
            f"ember.ops.qblock.{op}: expected {scheme} blocks of shape (N, a positive "
            f"multiple of {nbytes}), got shape {tuple(blocks.shape)}"
        )
    dev = same_device(f"ops.qblock.{op}", blocks)
    out = empty((blocks.shape[0], blocks.shape[1] // nbytes * BLOCK), D.float32, dev)
    kernels(dev, op, "qblock_dequantize").qblock_dequantize(
        blocks.contiguous()._impl, out._impl, scheme
    )
    return out


def qblock_linear(
    x: Tensor, w_blocks: Tensor, scheme: str, n: int, k: int, bias: Tensor | None = None
) -> Tensor:
    """x @ W.T + bias with W held in ggml blocks; x is quantized to Q8_0 per block first.

    Shape: x (*, K) float32, w_blocks (N, K / 32 * bytes per block) int8, bias (N,) -> (*, N).
    """
    op = "qblock_linear"
    x = check_tensor(x, f"ops.qblock.{op}")
    w_blocks = check_tensor(w_blocks, f"ops.qblock.{op}", "w_blocks")
    _scheme(scheme, op)
    _check_f32(x, op, "input")
    if x.ndim == 0 or x.shape[-1] != k:
        raise ValueError(
            f"ember.ops.qblock.{op}: input of shape {tuple(x.shape)} does not end in K = {k}"
        )
    tensors = [x, w_blocks]
    if bias is not None:
        tensors.append(check_tensor(bias, f"ops.qblock.{op}", "bias"))
    dev = same_device(f"ops.qblock.{op}", *tensors)
    lead = tuple(x.shape[:-1])
    x2 = x.contiguous().reshape(-1, k)
    out = empty((x2.shape[0], n), D.float32, dev)
    b = None if bias is None else bias.contiguous()._impl
    kernels(dev, op, "qblock_linear").qblock_linear(
        x2._impl, w_blocks.contiguous()._impl, b, out._impl, scheme, n
    )
    return out.reshape(*lead, n)
