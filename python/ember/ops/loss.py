"""Loss functions with PyTorch's semantics and argument names: cross_entropy, nll_loss,
mse_loss, l1_loss, huber_loss, smooth_l1_loss, binary_cross_entropy(_with_logits).

Each loss is one autograd node where it matters (a Function whose forward runs a few
kernels and whose backward is the closed-form derivative), so Python overhead stays
small against the work. ``_cross_entropy_indices`` is the hot path of language-model
training (class-index targets, no class weights): it runs the fused softmax
cross-entropy kernel.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from .._primitives import cast
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._autocast import float32_in_autocast
from ._util import broadcast_shapes, check_tensor, compute_dtype, same_device
from .cross_entropy import SoftmaxCrossEntropy
from .elementwise import where
from .index import gather, index_select
from .reduce import log_softmax

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: Any, op: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"ember.{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}"
        )
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _grad_scale(g: Tensor, reduction: str, n: int) -> Tensor:
    """The upstream gradient of a reduced loss, per element (broadcastable)."""
    return g / n if reduction == "mean" and n else g


def _check_input_target(input: Any, target: Any, op: str, float_target: bool = True) -> None:
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: input must be a floating tensor, got {input.dtype}")
    if target.dtype is D.bool_ or (float_target and not target.dtype.is_floating_point):
        raise TypeError(f"ember.{op}: target must be a floating tensor, got {target.dtype}")
    same_device(op, input, target)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"ember.{op}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ (PyTorch would broadcast them with a warning, "
            "which is almost always a bug); reshape one of them"
        )


def _check_weight(w: Any, op: str, name: str, ref: Tensor, shape: tuple | None = None) -> None:
    if w is None:
        return
    check_tensor(w, op, name)
    if not w.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: {name} must be a floating tensor, got {w.dtype}")
    same_device(op, ref, w)
    if shape is not None:
        if tuple(w.shape) != shape:
            raise ValueError(
                f"ember.{op}: {name} must have shape {shape} (one value per class), got "
                f"{tuple(w.shape)}"
            )
        return
    try:
        ok = broadcast_shapes(w.shape, ref.shape, op=op) == tuple(ref.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"ember.{op}: {name} of shape {tuple(w.shape)} does not broadcast to the input "
            f"shape {tuple(ref.shape)}"
        )


# ---- regression losses: mse, l1, huber, smooth_l1 -------------------------------------------
class PointwiseLoss(Function):
    """loss = reduce(f(input - target)); backward = f'(d) * upstream, one node."""

    @staticmethod
    def forward(
        ctx: Context, x: Tensor, y: Tensor, kind: str, param: float, reduction: str
    ) -> Tensor:
        cdt = compute_dtype(x.dtype)
        d = cast(x, cdt) - cast(y, cdt)
        if kind == "mse":
            loss = d * d
        elif kind == "l1" or param == 0.0:
            loss = d.abs()
        else:  # huber(delta) and smooth_l1(beta) = huber(beta) / beta
            a = d.abs()
            c = a.clamp(max=param)
            loss = c * (a - c * 0.5)
            if kind == "smooth_l1":
                loss = loss / param
        ctx.kind, ctx.param, ctx.reduction = kind, param, reduction
        ctx.dtypes = (x.dtype, y.dtype)
        ctx.save_for_backward(d)
        return cast(_reduce(loss, reduction), x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        (d,) = ctx.saved_tensors
        kind, p = ctx.kind, ctx.param
        if kind == "mse":
            deriv = d * 2.0
        elif kind == "l1" or p == 0.0:
            deriv = d.sign()
        elif kind == "huber":
            deriv = d.clamp(-p, p)
        else:
            deriv = (d / p).clamp(-1.0, 1.0)
        gx = deriv * _grad_scale(cast(g, d.dtype), ctx.reduction, d.numel())
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gy = cast(-gx, ctx.dtypes[1]) if need_y else None
        return (cast(gx, ctx.dtypes[0]) if need_x else None), gy, None, None, None


@float32_in_autocast
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: reduce((input - target)^2).

    Shape: input and target (*) of the same shape -> () or (*) with reduction='none'.
    """
    _check_input_target(input, target, "mse_loss", float_target=False)
    _check_reduction(reduction, "mse_loss")
    return PointwiseLoss.apply(input, target, "mse", 0.0, reduction)


@float32_in_autocast
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error: reduce(|input - target|).

    Shape: input and target (*) of the same shape -> () or (*) with reduction='none'.
    """
    _check_input_target(input, target, "l1_loss", float_target=False)
    _check_reduction(reduction, "l1_loss")
    return PointwiseLoss.apply(input, target, "l1", 0.0, reduction)


@float32_in_autocast
def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """Huber loss: 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), d = input -
    target.

    Shape: input and target (*) of the same shape -> () or (*) with reduction='none'.
    """
    _check_input_target(input, target, "huber_loss", float_target=False)
    _check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise ValueError(f"ember.huber_loss: delta must be positive, got {delta}")
    return PointwiseLoss.apply(input, target, "huber", float(delta), reduction)


@float32_in_autocast
def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """Smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (L1 for beta=0).

    Shape: input and target (*) of the same shape -> () or (*) with reduction='none'.
    """
    _check_input_target(input, target, "smooth_l1_loss", float_target=False)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"ember.smooth_l1_loss: beta must be non-negative, got {beta}")
    return PointwiseLoss.apply(input, target, "smooth_l1", float(beta), reduction)


# ---- binary cross-entropy ---------------------------------------------------------------------
def _softplus_neg(x: Tensor) -> Tensor:
    """log(1 + exp(-x)) without overflow: max(-x, 0) + log(1 + exp(-|x|))."""
    return (-x).relu() + ((-x.abs()).exp() + 1.0).log()


class BCEWithLogits(Function):
    """l = w * ((1 - y) x + (1 + (p - 1) y) softplus(-x)); gradients for input and
    target (weight and pos_weight are treated as constants)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, y: Tensor, w: Any, pw: Any, reduction: str) -> Tensor:
        cdt = compute_dtype(x.dtype)
        xc, yc = cast(x, cdt), cast(y, cdt)
        sp = _softplus_neg(xc)
        if pw is None:
            loss = (1.0 - yc) * xc + sp
        else:
            pwc = cast(pw, cdt)
            loss = (1.0 - yc) * xc + (1.0 + (pwc - 1.0) * yc) * sp
        if w is not None:
            loss = loss * cast(w, cdt)
        ctx.reduction, ctx.dtypes = reduction, (x.dtype, y.dtype)
        ctx.save_for_backward(xc, yc, w, pw)
        return cast(_reduce(loss, reduction), x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        xc, yc, w, pw = ctx.saved_tensors
        cdt = xc.dtype
        scale = _grad_scale(cast(g, cdt), ctx.reduction, xc.numel())
        if w is not None:
            scale = scale * cast(w, cdt)
        gx = gy = None
        if pw is None:
            if ctx.needs_input_grad[0]:
                gx = (xc.sigmoid() - yc) * scale
            if ctx.needs_input_grad[1]:
                gy = -xc * scale
        else:
            pwc = cast(pw, cdt)
            if ctx.needs_input_grad[0]:
                gx = ((1.0 - yc) - (1.0 + (pwc - 1.0) * yc) * (-xc).sigmoid()) * scale
            if ctx.needs_input_grad[1]:
                gy = ((pwc - 1.0) * _softplus_neg(xc) - xc) * scale
        return (
            None if gx is None else cast(gx, ctx.dtypes[0]),
            None if gy is None else cast(gy, ctx.dtypes[1]),
            None,
            None,
            None,
        )


@float32_in_autocast
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step:
    -w [p y log s(x) + (1 - y) log(1 - s(x))], p = pos_weight (per class, last dim).

    Shape: input and target (*) of the same shape; weight and pos_weight broadcast to
    it -> () or (*) with reduction='none'.
    """
    op = "binary_cross_entropy_with_logits"
    _check_input_target(input, target, op)
    _check_reduction(reduction, op)
    _check_weight(weight, op, "weight", input)
    _check_weight(pos_weight, op, "pos_weight", input)
    return BCEWithLogits.apply(input, target, weight, pos_weight, reduction)


class BCE(Function):
    """l = -w [y log x + (1 - y) log(1 - x)], logs clamped at -100 (as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, y: Tensor, w: Any, reduction: str) -> Tensor:
        cdt = compute_dtype(x.dtype)
        xc, yc = cast(x, cdt), cast(y, cdt)
        log_x = xc.log().clamp(min=-100.0)
        log_1mx = (1.0 - xc).log().clamp(min=-100.0)
        loss = -(yc * (log_x - log_1mx) + log_1mx)
        if w is not None:
            loss = loss * cast(w, cdt)
        ctx.reduction, ctx.dtypes = reduction, (x.dtype, y.dtype)
        ctx.save_for_backward(xc, yc, w, log_x, log_1mx)
        return cast(_reduce(loss, reduction), x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        xc, yc, w, log_x, log_1mx = ctx.saved_tensors
        scale = _grad_scale(cast(g, xc.dtype), ctx.reduction, xc.numel())
        if w is not None:
            scale = scale * cast(w, xc.dtype)
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = cast((xc - yc) / (xc * (1.0 - xc)).clamp(min=1e-12) * scale, ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            gy = cast((log_1mx - log_x) * scale, ctx.dtypes[1])
        return gx, gy, None, None


@float32_in_autocast
def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy on probabilities: -w [y log x + (1 - y) log(1 - x)].
    Prefer :func:`binary_cross_entropy_with_logits` (stable, and one op fewer).

    Shape: input and target (*) of the same shape, input in [0, 1] -> () or (*).
    """
    op = "binary_cross_entropy"
    _check_input_target(input, target, op)
    _check_reduction(reduction, op)
    _check_weight(weight, op, "weight", input)
    if input.numel() and bool(((input < 0.0) | (input > 1.0)).any()):
        raise ValueError(f"ember.{op}: all elements of input should be between 0 and 1")
    return BCE.apply(input, target, weight, reduction)


# ---- cross-entropy and nll -----------------------------------------------------------------
def _cross_entropy_indices(
    logits2d: Tensor, target1d: Tensor, ignore_index: int, label_smoothing: float, reduction: str
) -> Tensor:
    """Cross-entropy of (M, C) logits against (M,) int64 class indices, no class weight.
    Shape: () or (M,) with reduction='none'. One fused kernel (ops/cross_entropy.py)."""
    return SoftmaxCrossEntropy.apply(
        logits2d, target1d, int(ignore_index), float(label_smoothing), reduction
    )


def _nll_2d(
    logp: Tensor,
    t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    eps: float,
    reduction: str,
) -> Tensor:
    """Weighted nll (+ weighted label smoothing) on (M, C) log-probabilities, composed
    of differentiable ops; PyTorch's formulas (mean divides by the weights' sum)."""
    m, c = logp.shape
    valid = t != ignore_index
    t_safe = where(valid, t, 0)
    picked = gather(logp, 1, t_safe.reshape(m, 1)).reshape(m)
    if weight is not None:
        wt = where(valid, index_select(weight.detach(), 0, t_safe).to(logp.dtype), 0.0)
        loss = picked * -wt
        if eps > 0.0:
            smooth = -(logp * weight.detach().to(logp.dtype)).sum(1)
    else:
        wt = cast(valid, logp.dtype)
        loss = -picked
        if eps > 0.0:
            smooth = -logp.sum(1)
    if eps > 0.0:
        loss = loss * (1.0 - eps) + smooth * (eps / c)
    loss = where(valid, loss, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / wt.sum()


def _class_layout(input: Tensor, target: Tensor, op: str) -> tuple[Tensor, Tensor, tuple]:
    """(M, C) view of an (N, C, d1, ...) / (C,) input, (M,) int64 target, and the
    shape of the unreduced loss."""
    if input.ndim == 0:
        raise ValueError(f"ember.{op}: input must have at least 1 dimension (C,), got ()")
    if target.dtype is D.bool_ or target.dtype.is_floating_point:
        raise TypeError(
            f"ember.{op}: target of class indices must be an integer tensor, got "
            f"{target.dtype} (class probabilities go in a floating target of the input's "
            "shape)"
        )
    cdim = 1 if input.ndim >= 2 else 0
    c = input.shape[cdim]
    out_shape = tuple(s for i, s in enumerate(input.shape) if i != cdim)
    if tuple(target.shape) != out_shape:
        raise ValueError(
            f"ember.{op}: expected target of shape {out_shape} for input of shape "
            f"{tuple(input.shape)} (classes along dim {cdim}), got {tuple(target.shape)}"
        )
    t = cast(target, D.int64).reshape(-1)
    if input.ndim == 1:
        x2 = input.reshape(1, c)
    elif input.ndim == 2:
        x2 = input
    else:
        x2 = input.movedim(1, -1).reshape(-1, c)
    return x2, t, out_shape


def _out_of_range(e: IndexError, c: int, ignore_index: int, op: str) -> IndexError:
    """gather validates the targets for free; name the loss in its message."""
    return IndexError(
        f"ember.{op}: a target is out of bounds for {c} classes (and is not "
        f"ignore_index={ignore_index}): {e}"
    )


@float32_in_autocast
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy between logits and class indices or class probabilities.

    Class indices: integer target, entries equal to ``ignore_index`` contribute nothing
    (mean divides by the number of the others, or by the sum of their class weights;
    NaN if all are ignored, as in PyTorch). Class probabilities: a floating target of
    the input's shape. ``label_smoothing`` mixes the target with the uniform
    distribution.

    Shape: input (C,), (N, C) or (N, C, d1, ...); target (), (N) or (N, d1, ...) of
    class indices, or the input's shape of probabilities -> () or, with
    reduction='none', the target's shape without the class dim.
    """
    op = "cross_entropy"
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
    _check_reduction(reduction, op)
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: input must be a floating tensor, got {input.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"ember.{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    same_device(op, input, target)
    if input.ndim == 0:
        raise ValueError(f"ember.{op}: input must have at least 1 dimension (C,), got ()")
    cdim = 1 if input.ndim >= 2 else 0
    c = input.shape[cdim]
    _check_weight(weight, op, "weight", input, (c,))
    if target.dtype.is_floating_point and tuple(target.shape) == tuple(input.shape):
        return _cross_entropy_probs(input, target, weight, label_smoothing, reduction, cdim)
    x2, t, out_shape = _class_layout(input, target, op)
    try:
        if weight is None:
            loss = _cross_entropy_indices(x2, t, ignore_index, label_smoothing, reduction)
        else:
            logp = log_softmax(x2, 1)
            loss = _nll_2d(logp, t, weight, ignore_index, label_smoothing, reduction)
    except IndexError as e:
        raise _out_of_range(e, c, ignore_index, op) from None
    return loss.reshape(out_shape) if reduction == "none" else loss


def _cross_entropy_probs(
    input: Tensor, target: Tensor, weight: Any, eps: float, reduction: str, cdim: int
) -> Tensor:
    c = input.shape[cdim]
    logp = log_softmax(input, cdim)
    y = target.to(logp.dtype)
    if eps > 0.0 and c:  # with no classes there is nothing to smooth
        y = y * (1.0 - eps) + eps / c
    if weight is not None:
        shape = [1] * input.ndim
        shape[cdim] = c
        y = y * weight.detach().to(logp.dtype).reshape(shape)
    loss = -(logp * y).sum(cdim)
    if reduction == "mean" and c == 0:
        return loss.sum() * math.nan  # torch averages over numel / C rows: 0 / 0
    return _reduce(loss, reduction)


@float32_in_autocast
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities (e.g. from log_softmax) at the
    target classes; ``weight`` and ``ignore_index`` as in :func:`cross_entropy`.

    Shape: input (C,), (N, C) or (N, C, d1, ...); target (), (N) or (N, d1, ...) ->
    () or the target's shape with reduction='none'.
    """
    op = "nll_loss"
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
    _check_reduction(reduction, op)
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: input must be a floating tensor, got {input.dtype}")
    same_device(op, input, target)
    x2, t, out_shape = _class_layout(input, target, op)
    _check_weight(weight, op, "weight", input, (x2.shape[1],))
    try:
        loss = _nll_2d(x2, t, weight, ignore_index, 0.0, reduction)
    except IndexError as e:
        raise _out_of_range(e, x2.shape[1], ignore_index, op) from None
    return loss.reshape(out_shape) if reduction == "none" else loss


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]


@float32_in_autocast
def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence with ``input`` the log-probabilities:
    target * (log(target) - input) per element (0 where target is 0), or
    exp(target) * (target - input) with ``log_target=True``. ``reduction`` is 'none',
    'sum', 'mean' (over all elements) or 'batchmean' (sum / batch size, the
    mathematically right one); size_average / reduce are PyTorch's legacy switches.
    Differentiable in input and target.

    Shape: input and target of one shape; a scalar unless reduction='none'.
    """
    _check_input_target(input, target, "kl_div")
    if size_average is not None or reduce is not None:
        if reduce is False:
            reduction = "none"
        else:
            reduction = "sum" if size_average is False else "mean"
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ValueError(
            f"ember.kl_div: reduction must be 'none', 'mean', 'batchmean' or 'sum', got "
            f"{reduction!r}"
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        positive = target > 0
        # xlogy: the log of a safe 1 where target is 0, so no NaN reaches the gradient
        loss = where(positive, target * where(positive, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)
