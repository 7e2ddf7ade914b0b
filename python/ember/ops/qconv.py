"""Int8 convolution plumbing over the kernels in csrc/cpu/qconv: the fused static
quantize + im2col that turns a float NCHW input into the u8 rows of ember.ops.qgemm's
GEMM, and the transpose of the GEMM's (pixel, channel) output back to NCHW.

    rows, oh, ow = quantize_im2col_u8(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), scale, zero)
    y = int8_linear(rows, a_scale, a_zero, packed, w_scale, bias)    # (N * oh * ow, C_out)
    y = rows_to_nchw(y, n, oh, ow)                                    # (N, C_out, oh, ow)

Rows are ordered (n, oy, ox); each holds one kernel window, columns ordered kernel row,
kernel column, channel (a conv weight permuted to (C_out, kh, kw, C_in)), padded positions
holding the zero point. Codes are ``clamp(round(x / scale) + zero, 0, 255)`` (round half
to even), bit for bit those of ember.ops.qgemm.quantize_u8_static. Inference only: no
autograd, CPU only.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import _dtype as D
from .._C import qconv_quantize_im2col, qconv_rows_to_nchw
from .._primitives import empty
from ..tensor import Tensor
from ._util import check_tensor

__all__ = ["quantize_im2col_u8", "rows_to_nchw"]


def _cpu(x: Tensor, op: str, arg: str) -> Tensor:
    check_tensor(x, f"ops.qconv.{op}", arg)
    if x.device.type != "cpu":
        raise NotImplementedError(f"ember.ops.qconv.{op}: {arg} is on {x.device}; CPU only")
    return x


def _ints(v: Sequence[int], n: int, name: str) -> tuple[int, ...]:
    t = tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(t) != n or not all(isinstance(i, int) and not isinstance(i, bool) for i in t):
        raise TypeError(
            f"ember.ops.qconv.quantize_im2col_u8: {name} must be a tuple of {n} ints, got {v!r}"
        )
    return t


def quantize_im2col_u8(
    input: Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    dilation: tuple[int, int],
    scale: float,
    zero: int,
) -> tuple[Tensor, int, int]:
    """Quantize ``input`` per tensor with static qparams and unroll its kernel windows into
    the int8 GEMM's rows in one kernel call; ``padding`` is (top, bottom, left, right).
    ValueError for a window that does not fit the padded input, bad qparams or sizes.

    Shape: input (N, C, H, W) float32 -> (rows (N * OH * OW, kh * kw * C) int8 holding
    uint8 bits, OH, OW)."""
    op = "quantize_im2col_u8"
    x = _cpu(input, op, "input").contiguous()
    if x.dim() != 4:
        raise ValueError(
            f"ember.ops.qconv.{op}: input must be (N, C, H, W), got shape {tuple(x.shape)}"
        )
    (kh, kw), (sh, sw) = _ints(kernel_size, 2, "kernel_size"), _ints(stride, 2, "stride")
    (dh, dw), pad = _ints(dilation, 2, "dilation"), _ints(padding, 4, "padding")
    n, c, h, w = (int(s) for s in x.shape)
    oh = (h + pad[0] + pad[1] - dh * (kh - 1) - 1) // max(sh, 1) + 1
    ow = (w + pad[2] + pad[3] - dw * (kw - 1) - 1) // max(sw, 1) + 1
    # the binding checks everything (sizes, qparams, the window fitting); the rows it
    # fills are allocated only for a geometry that yields at least one output pixel
    rows = empty((n * max(oh, 0) * max(ow, 0), max(kh * kw * c, 0)), D.int8, x.device)
    qconv_quantize_im2col(
        x._impl, (kh, kw), (sh, sw), pad, (dh, dw), float(scale), int(zero), rows._impl
    )
    return rows, oh, ow


def rows_to_nchw(rows: Tensor, n: int, oh: int, ow: int) -> Tensor:
    """The GEMM output of :func:`quantize_im2col_u8`'s rows, one row of channels per pixel,
    as an NCHW image batch.

    Shape: rows (N * OH * OW, C) float32 -> (N, C, OH, OW) float32."""
    r = _cpu(rows, "rows_to_nchw", "rows").contiguous()
    if r.dim() != 2 or r.shape[0] != n * oh * ow or min(n, oh, ow) < 1:
        raise ValueError(
            f"ember.ops.qconv.rows_to_nchw: rows of shape {tuple(r.shape)} are not "
            f"(N * OH * OW, C) for N={n}, OH={oh}, OW={ow}"
        )
    c = int(r.shape[1])
    out = empty((n, c, oh, ow), D.float32, r.device)
    qconv_rows_to_nchw(r.reshape(n, oh * ow, c)._impl, out.reshape(n, c, oh * ow)._impl)
    return out
