"""Adagrad with lr decay, weight decay and an initial accumulator value."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _step_tensor, _zeros_like


class Adagrad(Optimizer):
    """Adagrad, exactly as ``torch.optim.Adagrad``::

        step += 1
        g = -grad if maximize else grad
        g = g + weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        sum = sum + g * g
        p = p - clr * g / (sqrt(sum) + eps)

    State (created at construction, as in PyTorch): ``step`` (0-d float32 tensor) and
    ``sum`` (filled with ``initial_accumulator_value``).

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of ``sum`` (default 0).
        eps: added to the denominator (default 1e-10).
        foreach, fused: accepted for PyTorch compatibility (ember is always fused).
        maximize: ascend instead of descend.
        skip_nonfinite: skip the group's step when a gradient holds NaN or inf (see
            :class:`ember.optim.SGD`).

    Shape:
        parameters of any shape, float32 or float64, contiguous, on one device; ``sum`` has
        the parameter's shape and dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        fused: bool | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "fused": fused,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        st = self.state[p]
        if not st:
            st["step"] = _step_tensor()
            st["sum"] = _zeros_like(p, group["initial_accumulator_value"])
        return st

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        state = self.state
        sums, steps = [], []
        for p in params:
            st = state[p]
            if not st:
                st = self._init_state(p, group)
            sums.append(st["sum"]._impl)
            steps.append(st["step"]._impl)
        return _kernels(params).adagrad_step(
            [p._impl for p in params],
            grads,
            sums,
            steps,
            float(group["lr"]),
            float(group["lr_decay"]),
            float(group["weight_decay"]),
            float(group["eps"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
