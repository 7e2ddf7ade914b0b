"""Fused softmax cross-entropy for class-index targets (csrc/cpu/cross_entropy): ONE kernel pass
per row computes the row's loss and writes dlogits = softmax - (smoothed) one-hot, which
the forward saves; the backward only scales it by the incoming gradient. The public
F.cross_entropy / nn.CrossEntropyLoss route their class-index case here."""

from __future__ import annotations

import math

from .. import _dtype as D
from .._primitives import cast, empty, full_scalar, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, same_device

_REDUCTIONS = ("mean", "sum", "none")


def _kernel_dtype(dt: D.dtype) -> D.dtype:
    return dt if dt in (D.float32, D.float64, D.bfloat16) else D.float32


def _stat_dtype(kdt: D.dtype) -> D.dtype:
    return D.float64 if kdt is D.float64 else D.float32


class SoftmaxCrossEntropy(Function):
    """loss_i = -(1 - eps) log softmax(x_i)[t_i] - eps / C * sum_j log softmax(x_i)[j];
    rows with t_i == ignore_index contribute nothing. Forward writes loss and dlogits in
    one kernel; backward = dlogits * grad_output (/ number of non-ignored rows for mean).

    forward(ctx, logits (N, C), target (N,) int64/int32, ignore_index, label_smoothing,
    reduction) -> 0-d loss (mean / sum) or (N,) losses (none)."""

    @staticmethod
    def forward(
        ctx: Context,
        logits: Tensor,
        target: Tensor,
        ignore_index: int,
        label_smoothing: float,
        reduction: str,
    ) -> Tensor:
        kdt = _kernel_dtype(logits.dtype)
        sdt = _stat_dtype(kdt)
        xc = cast(logits, kdt).contiguous()
        tc = target.contiguous()
        n = logits.shape[0]
        dev = logits.device
        losses = empty((n,), sdt, dev)
        dlogits = empty(xc.shape, kdt, dev)
        count, total = kernels(dev, "cross_entropy", "cross_entropy_forward").cross_entropy_forward(
            xc._impl, tc._impl, losses._impl, dlogits._impl, int(ignore_index), label_smoothing
        )
        if reduction == "none":
            out, scale = losses, 1.0
        elif reduction == "sum":
            out, scale = full_scalar(total, sdt, dev), 1.0
        else:
            # torch: the sum over non-ignored rows / their number (NaN when every row is
            # ignored; the gradient is then zero, as in torch).
            out = full_scalar(total / count if count else math.nan, sdt, dev)
            scale = 1.0 / count if count else 0.0
        ctx.save_for_backward(dlogits)
        ctx.meta = (logits.dtype, sdt, scale)
        return cast(out, logits.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (dlogits,) = ctx.saved_tensors
        x_dt, sdt, scale = ctx.meta
        gc = cast(g, sdt).contiguous()
        gi = empty(dlogits.shape, dlogits.dtype, dlogits.device)
        kernels(gi.device, "cross_entropy", "cross_entropy_backward").cross_entropy_backward(
            dlogits._impl, gc._impl, gi._impl, scale
        )
        return cast(gi, x_dt), None, None, None, None


def softmax_cross_entropy(
    logits: Tensor,
    target: Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy between softmax(logits) and class-index targets, fused into one op
    (PyTorch's F.cross_entropy for class indices without class weights).

    ``ignore_index``: rows with this target contribute no loss and no gradient; "mean"
    divides by the number of the other rows (NaN if there are none). ``label_smoothing``
    in [0, 1] mixes the one-hot target with the uniform distribution. ``reduction``:
    "mean", "sum" or "none". float32 / float64 / bfloat16 logits (bfloat16 with float32
    math); float16 goes through float32. Out-of-range targets raise IndexError before
    anything is computed.

    Shape: logits (N, C), target (N,) int64 or int32 -> () for mean / sum, (N,) for none.
    """
    op = "cross_entropy"
    check_tensor(logits, op)
    check_tensor(target, op, "target")
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"ember.{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    if not logits.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: expected floating-point logits, got {logits.dtype}")
    if target.dtype not in (D.int64, D.int32):
        raise TypeError(
            f"ember.{op}: expected an int64 or int32 target of class indices, got {target.dtype}"
        )
    if logits.ndim != 2:
        raise ValueError(
            f"ember.{op}: expected logits of shape (N, C), got shape {tuple(logits.shape)}"
        )
    if tuple(target.shape) != (logits.shape[0],):
        raise ValueError(
            f"ember.{op}: target of shape {tuple(target.shape)} does not match logits of shape "
            f"{tuple(logits.shape)} (expected ({logits.shape[0]},))"
        )
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"ember.{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    same_device(op, logits, target)
    return SoftmaxCrossEntropy.apply(logits, target, int(ignore_index), ls, reduction)


__all__ = ["softmax_cross_entropy", "SoftmaxCrossEntropy"]
