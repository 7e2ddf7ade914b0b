"""RMSprop (optionally centered, with momentum)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _step_tensor, _zeros_like


class RMSprop(Optimizer):
    """RMSprop, exactly as ``torch.optim.RMSprop``::

        step += 1
        g = -grad if maximize else grad
        g = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)
            avg = sqrt(square_avg - grad_avg ** 2) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg

    State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg``
    (centered).

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance.
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
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        *,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        state = self.state
        momentum = group["momentum"]
        centered = bool(group["centered"])
        sq, ga, bufs, steps = [], [], [], []
        for p in params:
            st = state[p]
            if not st:
                st["step"] = _step_tensor()
                st["square_avg"] = _zeros_like(p)
            sq.append(st["square_avg"]._impl)
            steps.append(st["step"]._impl)
            if momentum > 0:
                # Created when first needed (momentum may be switched on later).
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = _zeros_like(p)
                bufs.append(buf._impl)
            if centered:
                avg = st.get("grad_avg")
                if avg is None:
                    avg = st["grad_avg"] = _zeros_like(p)
                ga.append(avg._impl)
        return _kernels(params).rmsprop_step(
            [p._impl for p in params],
            grads,
            sq,
            ga,
            bufs,
            steps,
            float(group["lr"]),
            float(group["alpha"]),
            float(group["eps"]),
            float(group["weight_decay"]),
            float(momentum),
            centered,
            bool(group["maximize"]),
            bool(group["skip_nonfinite"]),
        )
