"""Lion (EvoLved Sign Momentum, Chen et al. 2023)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _zeros_like


class Lion(Optimizer):
    """Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023), as in
    the paper's Algorithm 2 and lucidrains' lion-pytorch::

        g = -grad if maximize else grad
        p = p * (1 - lr * weight_decay)
        update = sign(beta1 * exp_avg + (1 - beta1) * g)
        p = p - lr * update
        exp_avg = beta2 * exp_avg + (1 - beta2) * g

    Use a learning rate 3-10x smaller than AdamW's and a weight decay 3-10x larger (the
    sign update has a larger norm). State: ``exp_avg`` (no step count; Lion has no bias
    correction).

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-4).
        betas: interpolation for the update and for the momentum (default (0.9, 0.99)).
        weight_decay: decoupled weight decay (default 0).
        maximize: ascend instead of descend.
        foreach, fused: accepted for symmetry with the other optimizers (ember is always
            fused).
        skip_nonfinite: skip the group's step when a gradient holds NaN or inf (see
            :class:`ember.optim.SGD`).

    Shape:
        parameters of any shape, float32 or float64, contiguous, on one device; ``exp_avg``
        has the parameter's shape and dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        state = self.state
        m = []
        for p in params:
            st = state[p]
            if not st:
                st["exp_avg"] = _zeros_like(p)
            m.append(st["exp_avg"]._impl)
        beta1, beta2 = group["betas"]
        return _kernels(params).lion_step(
            [p._impl for p in params],
            grads,
            m,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["weight_decay"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
