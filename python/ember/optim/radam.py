"""RAdam (Liu et al. 2020, Adam with a rectified adaptive learning rate) on the fused C++
multi-tensor kernels (csrc/cpu/optim): Adam's moments, and a per-parameter choice (made by
the kernel driver from the step count) between the rectified adaptive update and plain
momentum."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _state_columns


class RAdam(Optimizer):
    """RAdam, exactly as ``torch.optim.RAdam``::

        step += 1
        g = -grad if maximize else grad
        if decoupled_weight_decay: p = p * (1 - lr * weight_decay)     # RAdamW
        else:                      g = g + weight_decay * p            # L2
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        bc1, bc2 = 1 - beta1**step, 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / bc2
        if rho_t > 5:
            rect = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            p = p - lr * exp_avg / bc1 * rect * sqrt(bc2) / (sqrt(exp_avg_sq) + eps)
        else:
            p = p - lr * exp_avg / bc1

    State: ``step``, ``exp_avg``, ``exp_avg_sq``.

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-3).
        betas: coefficients of the running averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay (default 0).
        decoupled_weight_decay: decay the weights as AdamW does (RAdamW).
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
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        m, v, steps = _state_columns(self.state, params, ("exp_avg", "exp_avg_sq"))
        beta1, beta2 = group["betas"]
        return _kernels(params).radam_step(
            [p._impl for p in params],
            grads,
            m,
            v,
            steps,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
            bool(group["decoupled_weight_decay"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
