"""Layer norm and RMS norm over the trailing dimensions, each ONE autograd op on the fused
kernels of csrc/cpu/norm: the forward kernel writes y and the per-row mean / rstd, the
backward kernel writes grad input and the (deterministically reduced) weight / bias grads."""

from __future__ import annotations

from collections.abc import Sequence

from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, prod, same_device

_FLOAT32_EPS = 1.1920928955078125e-07  # torch.finfo(torch.float32).eps
_FLOAT64_EPS = 2.220446049250313e-16


def _kernel_dtype(dt: D.dtype) -> D.dtype:
    """The dtype the kernels read and write: float32 / float64 / bfloat16 as is, float16
    through float32."""
    return dt if dt in (D.float32, D.float64, D.bfloat16) else D.float32


def _stat_dtype(kdt: D.dtype) -> D.dtype:
    return D.float64 if kdt is D.float64 else D.float32


def _param_dtype(p: D.dtype, kdt: D.dtype) -> D.dtype:
    """float32 weights stay float32 for bfloat16 inputs (mixed precision); otherwise the
    weight is read in the input's kernel dtype."""
    return D.float32 if (kdt is D.bfloat16 and p is D.float32) else kdt


def _contig(t: Tensor | None, dtype: D.dtype) -> Tensor | None:
    return None if t is None else cast(t, dtype).contiguous()


def _imp(t: Tensor | None):
    return None if t is None else t._impl


class _Norm(Function):
    """Shared forward/backward of LayerNorm and RMSNorm (``rms`` picks the kernel)."""

    rms = False

    @classmethod
    def _fwd(
        cls,
        ctx: Context,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        shape: tuple[int, ...],
        eps: float,
    ) -> Tensor:
        n = prod(shape)
        kdt = _kernel_dtype(x.dtype)
        xc = _contig(x, kdt)
        wc = None if weight is None else _contig(weight, _param_dtype(weight.dtype, kdt))
        bc = None if bias is None else _contig(bias, _param_dtype(bias.dtype, kdt))
        rows = x.numel() // n if n else 0
        y = empty(x.shape, kdt, x.device)
        sdt = _stat_dtype(kdt)
        rstd = empty((rows,), sdt, x.device)
        k = kernels(x.device, "layer_norm", "layer_norm_forward")
        if cls.rms:
            mean = None
            k.rms_norm_forward(xc._impl, n, _imp(wc), y._impl, rstd._impl, eps)
        else:
            mean = empty((rows,), sdt, x.device)
            k.layer_norm_forward(
                xc._impl, n, _imp(wc), _imp(bc), y._impl, mean._impl, rstd._impl, eps
            )
        ctx.save_for_backward(xc, wc, mean, rstd)
        ctx.meta = (
            shape,
            x.dtype,
            None if weight is None else weight.dtype,
            None if bias is None else bias.dtype,
            None if bias is None else bc.dtype,
        )
        return cast(y, x.dtype)

    @classmethod
    def _bwd(cls, ctx: Context, g: Tensor) -> tuple:
        xc, wc, mean, rstd = ctx.saved_tensors
        shape, x_dt, w_dt, b_dt, bk_dt = ctx.meta
        n = prod(shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        kdt = xc.dtype
        dev = xc.device
        gx = empty(xc.shape, kdt, dev) if need_x else None
        gw = empty(wc.shape, wc.dtype, dev) if need_w and wc is not None else None
        gb = empty(shape, bk_dt, dev) if need_b and b_dt is not None else None
        gc = _contig(g, kdt)
        k = kernels(dev, "layer_norm", "layer_norm_backward")
        if cls.rms:
            k.rms_norm_backward(gc._impl, xc._impl, n, _imp(wc), rstd._impl, _imp(gx), _imp(gw))
        else:
            k.layer_norm_backward(
                gc._impl,
                xc._impl,
                n,
                _imp(wc),
                mean._impl,
                rstd._impl,
                _imp(gx),
                _imp(gw),
                _imp(gb),
            )
        return (
            None if gx is None else cast(gx, x_dt),
            None if gw is None else cast(gw, w_dt),
            None if gb is None else cast(gb, b_dt),
            None,
            None,
        )


class LayerNorm(_Norm):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing dims ``shape``."""

    rms = False

    @staticmethod
    def forward(ctx, x, weight, bias, shape, eps):  # noqa: ANN001, ANN205
        return LayerNorm._fwd(ctx, x, weight, bias, shape, eps)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        return LayerNorm._bwd(ctx, g)


class RMSNorm(_Norm):
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing dims ``shape``."""

    rms = True

    @staticmethod
    def forward(ctx, x, weight, bias, shape, eps):  # noqa: ANN001, ANN205
        return RMSNorm._fwd(ctx, x, weight, None, shape, eps)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        return RMSNorm._bwd(ctx, g)


def _check(
    op: str,
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float | None,
) -> tuple[int, ...]:
    check_tensor(input, op)
    if isinstance(normalized_shape, int) or hasattr(normalized_shape, "__index__"):
        shape = (int(normalized_shape),)
    else:
        try:
            shape = tuple(int(s) for s in normalized_shape)
        except TypeError:
            raise TypeError(
                f"ember.{op}: normalized_shape must be an int or a sequence of ints, got "
                f"{normalized_shape!r}"
            ) from None
    if len(shape) == 0 or any(s <= 0 for s in shape):
        raise ValueError(
            f"ember.{op}: normalized_shape must be a non-empty shape of positive sizes, got {shape}"
        )
    if input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape) :]) != shape:
        raise ValueError(
            f"ember.{op}: input of shape {tuple(input.shape)} does not end with normalized_shape "
            f"{shape}"
        )
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: expected a floating-point input, got {input.dtype}")
    tensors = [input]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        check_tensor(t, op, name)
        if tuple(t.shape) != shape:
            raise ValueError(
                f"ember.{op}: {name} of shape {tuple(t.shape)} does not match normalized_shape "
                f"{shape}"
            )
        if not t.dtype.is_floating_point:
            raise TypeError(f"ember.{op}: expected a floating-point {name}, got {t.dtype}")
        tensors.append(t)
    same_device(op, *tensors)
    if eps is not None and not (float(eps) >= 0.0 and float(eps) != float("inf")):
        raise ValueError(f"ember.{op}: eps must be finite and >= 0, got {eps}")
    return shape


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dimensions (PyTorch's
    F.layer_norm): y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
    variance. One fused op: float32 math (float64 for float64 input); bfloat16 and float16
    inputs keep their dtype.

    Shape: input (*, *normalized_shape); weight, bias normalized_shape -> same as input.
    """
    shape = _check("layer_norm", input, normalized_shape, weight, bias, eps)
    return LayerNorm.apply(input, weight, bias, shape, float(eps))


def rms_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """RMS normalization over the trailing ``normalized_shape`` dimensions (PyTorch's
    F.rms_norm): y = x / sqrt(mean(x^2) + eps) * weight. ``eps=None`` uses the machine
    epsilon of the compute dtype (float32, or float64 for float64 input), as PyTorch does.

    Shape: input (*, *normalized_shape); weight normalized_shape -> same as input.
    """
    shape = _check("rms_norm", input, normalized_shape, weight, None, eps)
    if eps is None:
        eps = _FLOAT64_EPS if input.dtype is D.float64 else _FLOAT32_EPS
    return RMSNorm.apply(input, weight, None, shape, float(eps))


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalization (PyTorch's F.group_norm): the C channels are split into
    ``num_groups`` groups, each normalized over its channels and all spatial positions
    with the biased variance, then scaled by the per-channel weight and bias. Runs on
    the layer-norm kernel over each (sample, group) row.

    Shape: input (N, C, *), weight and bias (C,) -> same as input.
    """
    check_tensor(input, "group_norm")
    if input.ndim < 2:
        raise ValueError(f"ember.group_norm: input must be (N, C, *), got {tuple(input.shape)}")
    c = input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups <= 0:
        raise ValueError(f"ember.group_norm: num_groups must be a positive int, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(f"ember.group_norm: {c} channels can't be split into {num_groups} groups")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != (c,)):
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"ember.group_norm: {name} must have shape ({c},), got {shape}")
    n = input.shape[0]
    rows = input.reshape(n, num_groups, -1)
    y = layer_norm(rows, rows.shape[-1], eps=eps).reshape(input.shape)
    per_channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(per_channel)
    if bias is not None:
        y = y + bias.reshape(per_channel)
    return y


__all__ = ["group_norm", "layer_norm", "rms_norm", "LayerNorm", "RMSNorm"]
