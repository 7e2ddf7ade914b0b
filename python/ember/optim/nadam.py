"""NAdam (Dozat 2016, Adam with Nesterov momentum and a momentum schedule) on the fused C++
multi-tensor kernels (csrc/cpu/optim): the element-wise update shares Adam's moments; the
schedule's running product is a per-parameter scalar the kernel driver updates."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _state_columns


class NAdam(Optimizer):
    """NAdam, exactly as ``torch.optim.NAdam``::

        step += 1
        g = -grad if maximize else grad
        if decoupled_weight_decay: p = p * (1 - lr * weight_decay)     # NAdamW
        else:                      g = g + weight_decay * p            # L2
        mu      = beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        mu_product = mu_product * mu
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        denom = sqrt(exp_avg_sq / (1 - beta2**step)) + eps
        p = p - lr * (1 - mu) / (1 - mu_product) * g / denom
        p = p - lr * mu_next / (1 - mu_product * mu_next) * exp_avg / denom

    State: ``step``, ``mu_product`` (0-d float32, as PyTorch keeps it), ``exp_avg``,
    ``exp_avg_sq``.

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 2e-3).
        betas: coefficients of the running averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay (default 0).
        momentum_decay: psi of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay the weights as AdamW does (NAdamW).
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
        momentum_decay: float = 4e-3,
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
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        m, v, steps, mu_products = _state_columns(
            self.state, params, ("exp_avg", "exp_avg_sq"), (("step", 0.0), ("mu_product", 1.0))
        )
        beta1, beta2 = group["betas"]
        return _kernels(params).nadam_step(
            [p._impl for p in params],
            grads,
            m,
            v,
            mu_products,
            steps,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
            float(group["momentum_decay"]),
            bool(group["decoupled_weight_decay"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
