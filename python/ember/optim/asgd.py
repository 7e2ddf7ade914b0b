"""ASGD (averaged SGD, Polyak & Juditsky 1992) composed from ember tensor ops under no_grad.
Its per-parameter scalars (eta, mu) change every step and the averaging is one extra line,
so a fused kernel would save little; the ops keep the rule readable."""

from __future__ import annotations

import numbers
from typing import Any

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _param_state


class ASGD(Optimizer):
    """Averaged SGD, exactly as ``torch.optim.ASGD``::

        step += 1
        g = -grad if maximize else grad
        g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = p if mu == 1 else ax + mu * (p - ax)       # the running average of p
        eta = lr / (1 + lambd * lr * step) ** alpha
        mu = 1 / max(1, step - t0)

    State: ``step``, ``eta``, ``mu`` (0-d float32, as PyTorch keeps them) and ``ax``, the
    averaged parameters (averaging starts after ``t0`` steps); copy ``ax`` into the
    parameters to evaluate the averaged model.

    Args:
        params: tensors or param groups to optimize.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the eta update (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty (default 0).
        foreach: accepted for PyTorch compatibility.
        maximize: ascend instead of descend.

    Shape:
        parameters of any shape, float32 or float64, contiguous, on the CPU; ``ax`` has
        the parameter's shape and dtype.
    """

    _cuda = False  # per-tensor ops and host-side scalars, written for the CPU

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        # alpha may be negative in PyTorch (it is an exponent): only lr and weight_decay
        # have range checks there; the rest must be numbers.
        super()._validate_group({k: v for k, v in group.items() if k != "alpha"})
        for key in ("lambd", "alpha", "t0"):
            v = group[key]
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                raise TypeError(f"{self._name()}: {key} must be a number, got {type(v).__name__}")

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        lr, lambd = float(group["lr"]), float(group["lambd"])
        alpha, t0 = float(group["alpha"]), float(group["t0"])
        wd = float(group["weight_decay"])
        with no_grad():
            for p in params:
                st = _param_state(self.state, p, ("ax",), (("step", 0.0), ("eta", lr), ("mu", 1.0)))
                g = -p.grad if group["maximize"] else p.grad
                if wd != 0:
                    g = g + p * wd
                step = st["step"].item() + 1
                st["step"].fill_(step)
                eta = st["eta"].item()
                p.mul_(1 - lambd * eta)
                p.sub_(g * eta)
                if st["mu"].item() != 1:
                    st["ax"].add_((p - st["ax"]) * st["mu"].item())
                else:
                    st["ax"].copy_(p)
                st["eta"].fill_(lr / (1 + lambd * lr * step) ** alpha)
                st["mu"].fill_(1 / max(1.0, step - t0))
        return True
