"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize."""

from __future__ import annotations

from typing import Any

from .._primitives import empty
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels


class SGD(Optimizer):
    """Stochastic gradient descent, exactly as ``torch.optim.SGD``::

        g = -grad if maximize else grad
        g = g + weight_decay * p
        if momentum != 0:
            buf = g (first step) or momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    One fused kernel call updates the whole param group.

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend instead of descend.
        foreach, fused: accepted for PyTorch compatibility; ember always runs its fused
            multi-tensor kernel.
        skip_nonfinite: scan the gradients first (one extra read of them) and skip the
            group's step, leaving parameters and state untouched, when one holds NaN or
            inf; skipped steps are counted in ``optimizer.skipped_steps``.

    Shape:
        parameters of any shape, float32 or float64, contiguous, on one device; the state
        ``momentum_buffer`` has the parameter's shape and dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{self._name()}: Nesterov momentum requires a momentum and zero dampening"
            )

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        momentum = group["momentum"]
        bufs: list = []
        new: list[bool] = []
        fresh: list = []
        if momentum != 0:
            state = self.state
            for p in params:
                buf = state[p].get("momentum_buffer")
                if buf is None:
                    # Uninitialized is fine: the kernel writes buf = grad on its first step.
                    buf = empty(p.shape, p.dtype, p.device)
                    fresh.append((p, buf))
                    new.append(True)
                else:
                    new.append(False)
                bufs.append(buf._impl)
        ok = _kernels(params).sgd_step(
            [p._impl for p in params],
            grads,
            bufs,
            new,
            float(group["lr"]),
            float(momentum),
            float(group["dampening"]),
            float(group["weight_decay"]),
            bool(group["nesterov"]),
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
        if ok:
            for p, buf in fresh:
                self.state[p]["momentum_buffer"] = buf
        return ok
