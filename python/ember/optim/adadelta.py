"""Adadelta (Zeiler 2012) on the fused C++ multi-tensor kernels (csrc/cpu/optim): the update
is a few element-wise lines over two state buffers, so it joins the kernel family of Adam and
RMSprop instead of composing tensor ops (one pass over memory per group)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _state_columns


class Adadelta(Optimizer):
    """Adadelta, exactly as ``torch.optim.Adadelta``::

        step += 1
        g = -grad if maximize else grad
        g = g + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g * g
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        p = p - lr * delta

    State: ``step``, ``square_avg``, ``acc_delta``.

    Args:
        params: tensors or param groups to optimize.
        lr: scales delta before it is applied (default 1.0).
        rho: coefficient of the running averages, in [0, 1] (default 0.9).
        eps: added inside the square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        foreach: accepted for PyTorch compatibility (ember is always fused).
        maximize: ascend instead of descend.
        skip_nonfinite: skip the group's step when a gradient holds NaN or inf (see
            :class:`ember.optim.SGD`).

    Shape:
        parameters of any shape, float32 or float64, contiguous, on one device; state
        buffers have the parameter's shape and dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        sq, acc, steps = _state_columns(self.state, params, ("square_avg", "acc_delta"))
        return _kernels(params).adadelta_step(
            [p._impl for p in params],
            grads,
            sq,
            acc,
            steps,
            float(group["lr"]),
            float(group["rho"]),
            float(group["eps"]),
            float(group["weight_decay"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
