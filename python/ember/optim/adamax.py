"""Adamax (Kingma & Ba 2015, the infinity-norm variant of Adam) on the fused C++
multi-tensor kernels (csrc/cpu/optim): a few element-wise lines next to Adam's kernel, one
pass over memory per group."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _state_columns


class Adamax(Optimizer):
    """Adamax, exactly as ``torch.optim.Adamax``::

        step += 1
        g = -grad if maximize else grad
        g = g + weight_decay * p
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_inf = max(beta2 * exp_inf, |g| + eps)
        p = p - lr / (1 - beta1**step) * exp_avg / exp_inf

    State: ``step``, ``exp_avg``, ``exp_inf``.

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 2e-3).
        betas: coefficients of the running average and of the infinity norm (default
            (0.9, 0.999)).
        eps: added to |g| (default 1e-8).
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
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        m, u, steps = _state_columns(self.state, params, ("exp_avg", "exp_inf"))
        beta1, beta2 = group["betas"]
        return _kernels(params).adamax_step(
            [p._impl for p in params],
            grads,
            m,
            u,
            steps,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
