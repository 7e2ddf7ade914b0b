"""Batch normalization as one coarse autograd op over the kernels in csrc/cpu/batchnorm: the
forward kernel computes the batch statistics, updates the running ones in place and
normalizes; the backward kernel returns grad input, weight and bias together. The kernels
take float32 or float64; float16 / bfloat16 tensors are computed in float32.

The op dispatches on the tensor's device (``kernels(dev, op, name)``), so CUDA kernels with
the same binding names slot in; until then a CUDA tensor raises NotImplementedError.
"""

from __future__ import annotations

from .. import _dtype as D
from .._primitives import cast, copy_into, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import check_tensor, compute_dtype, float_dtype, same_device

__all__ = ["batch_norm"]


class BatchNorm(Function):
    """Batch norm over (N, C, *) as one op: the forward kernel computes the batch
    statistics, updates the running ones in place and normalizes; the backward kernel
    returns grad input, weight and bias together."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        training: bool,
        momentum: float,
        eps: float,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = compute_dtype(dtype)
        xc = cast(x, cdt).contiguous()
        wc = None if weight is None else cast(weight, cdt).contiguous()
        bc = None if bias is None else cast(bias, cdt).contiguous()
        c = x.shape[1]
        # Running statistics are updated in place: hand the kernel a contiguous tensor of
        # the compute dtype, and copy back when that had to be a copy.
        stats = []
        for r in (running_mean, running_var):
            if r is None:
                stats.append((None, None))
            else:
                rc = r if (r.dtype is cdt and r.is_contiguous()) else cast(r, cdt).contiguous()
                stats.append((r, rc))
        out = empty(x.shape, cdt, x.device)
        save_mean = empty((c,), cdt, x.device)
        save_invstd = empty((c,), cdt, x.device)
        imp = lambda t: None if t is None else t._impl  # noqa: E731
        kernels(x.device, "batch_norm", "batch_norm_forward").batch_norm_forward(
            xc._impl,
            imp(wc),
            imp(bc),
            imp(stats[0][1]),
            imp(stats[1][1]),
            out._impl,
            save_mean._impl,
            save_invstd._impl,
            bool(training),
            float(momentum),
            float(eps),
        )
        if training:
            for r, rc in stats:
                if r is None:
                    continue
                if rc is not r:
                    copy_into(rc, r)
                r._bump_version()
        ctx.save_for_backward(xc, wc, save_mean, save_invstd)
        ctx.meta = (
            bool(training),
            x.dtype,
            None if weight is None else weight.dtype,
            None if bias is None else bias.dtype,
        )
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        xc, wc, save_mean, save_invstd = ctx.saved_tensors
        training, x_dt, w_dt, b_dt = ctx.meta
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        cdt = xc.dtype
        gx = empty(xc.shape, cdt, xc.device) if need_x else None
        gw = empty((xc.shape[1],), cdt, xc.device) if need_w and w_dt is not None else None
        gb = empty((xc.shape[1],), cdt, xc.device) if need_b and b_dt is not None else None
        imp = lambda t: None if t is None else t._impl  # noqa: E731
        kernels(g.device, "batch_norm", "batch_norm_backward").batch_norm_backward(
            cast(g, cdt).contiguous()._impl,
            xc._impl,
            imp(wc),
            save_mean._impl,
            save_invstd._impl,
            imp(gx),
            imp(gw),
            imp(gb),
            training,
        )
        return (
            None if gx is None else cast(gx, x_dt),
            None if gw is None else cast(gw, w_dt),
            None if gb is None else cast(gb, b_dt),
            None,
            None,
            None,
            None,
            None,
            None,
        )


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over dim 1: y = (x - mean) / sqrt(var + eps) * weight + bias.

    training: mean and (biased) variance of the batch over every dim but 1; the running
    statistics, when given, are updated in place as (1 - momentum) running + momentum
    batch (the variance unbiased, as in PyTorch). Otherwise the running statistics are
    used.

    Shape: input (N, C, *) ; running_mean, running_var, weight, bias (C,) -> (N, C, *).
    """
    op = "batch_norm"
    check_tensor(input, op)
    if input.ndim < 2:  # the channel count sizes the statistics; the kernels check the rest
        raise ValueError(
            f"ember.batch_norm: expected an input of at least 2 dimensions (N, C, *), got "
            f"shape {tuple(input.shape)}"
        )
    tensors = [input]
    named = (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    )
    for name, t in named:
        if t is not None:
            tensors.append(check_tensor(t, op, name))
    same_device(op, *tensors)
    dtype = float_dtype(op, input)
    return BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean,
        running_var,
        bool(training),
        float(momentum),
        float(eps),
        dtype,
    )
