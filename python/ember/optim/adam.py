"""Adam and AdamW (bias correction, amsgrad, decoupled weight decay)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _kernels, _step_tensor, _zeros_like


class Adam(Optimizer):
    """Adam, exactly as ``torch.optim.Adam``::

        step += 1
        g = -grad if maximize else grad
        if decoupled_weight_decay: p = p * (1 - lr * weight_decay)     # AdamW
        else:                      g = g + weight_decay * p            # L2
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        v = max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
        p = p - lr / (1 - beta1**step) * exp_avg / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    ``step`` is counted per parameter (a 0-d float32 tensor in the state, as in
    PyTorch), so parameters that got gradients at different times are bias-corrected
    by their own counts. One fused kernel call updates the whole param group, reading
    and writing each element of p, exp_avg and exp_avg_sq once (28 bytes per float32
    parameter).

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-3).
        betas: coefficients of the running averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay for AdamW (default 0).
        amsgrad: keep the maximum of exp_avg_sq (AMSGrad).
        foreach, fused: accepted for PyTorch compatibility (ember is always fused).
        maximize: ascend instead of descend.
        decoupled_weight_decay: AdamW's decay (``p *= 1 - lr * weight_decay``).
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
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
            "skip_nonfinite": skip_nonfinite,
        }
        super().__init__(params, defaults)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        state = self.state
        amsgrad = bool(group["amsgrad"])
        m, v, vmax, steps = [], [], [], []
        for p in params:
            st = state[p]
            if not st:
                st["step"] = _step_tensor()
                st["exp_avg"] = _zeros_like(p)
                st["exp_avg_sq"] = _zeros_like(p)
            m.append(st["exp_avg"]._impl)
            v.append(st["exp_avg_sq"]._impl)
            steps.append(st["step"]._impl)
            if amsgrad:
                mx = st.get("max_exp_avg_sq")
                if mx is None:  # created when first needed (amsgrad may be switched on)
                    mx = st["max_exp_avg_sq"] = _zeros_like(p)
                vmax.append(mx._impl)
        beta1, beta2 = group["betas"]
        return _kernels(params).adam_step(
            [p._impl for p in params],
            grads,
            m,
            v,
            vmax,
            steps,
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
            amsgrad,
            bool(group["maximize"]),
            bool(group["decoupled_weight_decay"]),
            bool(group["skip_nonfinite"]),
        )


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before
    the Adam update, no L2 term in the gradient), exactly as ``torch.optim.AdamW``.
    Arguments as :class:`Adam`; the default weight_decay is 1e-2.

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
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            fused=fused,
            decoupled_weight_decay=True,
            skip_nonfinite=skip_nonfinite,
        )
