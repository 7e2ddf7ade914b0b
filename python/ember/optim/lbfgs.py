"""L-BFGS with PyTorch's optional strong-Wolfe line search, composed from ember tensor ops
under no_grad. Its work is a handful of dot products and axpys on one flat vector per
iteration plus closure calls, with data-dependent control flow (history, line search), so
tensor ops in Python are the natural form; the model's forward/backward dominates."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import enable_grad, no_grad
from ..ops.creation import zeros
from ..ops.shape import cat
from ..tensor import Tensor
from .line_search import strong_wolfe
from .optimizer import Optimizer, ParamsT


def _dot(a: Tensor, b: Tensor) -> float:
    return float((a * b).sum().item())


def _abs_max(a: Tensor) -> float:
    return float(a.abs().max().item())


class LBFGS(Optimizer):
    """L-BFGS, exactly as ``torch.optim.LBFGS`` (after minFunc): each ``step(closure)``
    runs up to ``max_iter`` iterations, each a two-loop recursion over the last
    ``history_size`` curvature pairs followed by a fixed step ``lr`` or, with
    ``line_search_fn="strong_wolfe"``, a line search with cubic interpolation.

    ``closure`` re-evaluates the model: it zeroes the gradients, computes the loss,
    calls ``backward()`` and returns the loss; it runs with grad enabled and may be called
    several times per step. The first call's loss is returned.

    State (kept for the first parameter, as PyTorch does): ``func_evals``, ``n_iter``,
    ``d`` (last direction), ``t`` (last step length), ``old_dirs``, ``old_stps``, ``ro``
    (the curvature history), ``H_diag``, ``prev_flat_grad``, ``prev_loss`` and ``al``.
    Scalars are Python floats; vectors are flat tensors of all parameters' elements.

    Args:
        params: tensors to optimize (one param group only).
        lr: learning rate (default 1).
        max_iter: iterations per step (default 20).
        max_eval: function evaluations per step (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when max |grad| falls to this (default 1e-7).
        tolerance_change: stop when the loss or the parameters change less (default 1e-9).
        history_size: curvature pairs kept (default 100).
        line_search_fn: None (fixed steps) or ``"strong_wolfe"``.

    Shape:
        parameters of any shape, float32 or float64 (all of one dtype), contiguous, on
        the CPU; the state's vectors have shape ``(total number of elements,)``.
    """

    _cuda = False  # flat CPU vectors and a host-side line search

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(max_iter, numbers.Integral) and max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(
                f"{self._name()}: LBFGS doesn't support per-parameter options (parameter groups)"
            )
        self._params: list[Tensor] = self.param_groups[0]["params"]
        if len({p.dtype for p in self._params}) != 1:
            raise TypeError(f"{self._name()}: all parameters must have the same dtype")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError(
                f"{self._name()}: LBFGS doesn't support per-parameter options (parameter groups)"
            )
        super().add_param_group(param_group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        name = self._name()
        for key in ("max_iter", "max_eval", "history_size"):
            v = group[key]
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}")
        for key in ("tolerance_grad", "tolerance_change"):
            v = group[key]
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not v >= 0:
                raise ValueError(f"{name}: {key} must be a number >= 0, got {v!r}")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"{name}: line_search_fn must be None or 'strong_wolfe', got "
                f"{group['line_search_fn']!r}"
            )

    def _load_state_value(self, index: Any, key: str, value: Any, p: Tensor) -> Any:
        # Flat vectors and lists of them: copies, whatever their shape.
        return _copy_tensors(value)

    # ---- flat views of the parameters -----------------------------------------------------
    def _gather_flat_grad(self) -> Tensor:
        views = [
            zeros(p.numel(), dtype=p.dtype) if p.grad is None else p.grad.reshape(-1)
            for p in self._params
        ]
        return cat(views, 0)

    def _add_grad(self, step_size: float, update: Tensor) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(update[offset : offset + n].reshape(p.shape) * step_size)
            offset += n

    def _clone_param(self) -> list[Tensor]:
        return [p.detach().clone() for p in self._params]

    def _set_param(self, params_data: list[Tensor]) -> None:
        for p, data in zip(self._params, params_data):
            p.copy_(data)

    def _evaluate(self, closure: Callable[[], Any]) -> float:
        with enable_grad():
            return float(closure())

    def _directional_evaluate(
        self, closure: Callable[[], Any], x: list[Tensor], t: float, d: Tensor
    ) -> tuple[float, Tensor]:
        """Loss and flat gradient at x + t d; the parameters are put back to x."""
        self._add_grad(t, d)
        loss = self._evaluate(closure)
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---- the step --------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; returns the loss of the first closure
        call. ``closure`` is required (it re-evaluates the loss and its gradients)."""
        if closure is None or not callable(closure):
            raise TypeError(f"{self._name()}: step() needs a closure that returns the loss")
        self._opt_called = True
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad = float(group["tolerance_grad"])
        tolerance_change = float(group["tolerance_change"])
        history_size = group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if _abs_max(flat_grad) <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # The direction: steepest descent first, then the two-loop recursion.
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(y, s)
                if ys > 1e-10:  # keep the pair only if the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _dot(y, y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = _dot(old_stps[i], q) * ro[i]
                    q = q - old_dirs[i] * al[i]
                d = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = _dot(old_dirs[i], d) * ro[i]
                    d = d + old_stps[i] * (al[i] - be_i)

            prev_flat_grad = flat_grad.clone()
            prev_loss = loss

            # The step length: scaled down on the very first iteration.
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(flat_grad.abs().sum().item())) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)
            if gtd > -tolerance_change:  # not a descent direction
                break

            if group["line_search_fn"] == "strong_wolfe":
                x_init = self._clone_param()

                def obj_func(x: list[Tensor], t: float, d: Tensor) -> tuple[float, Tensor]:
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = _abs_max(flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)
                ls_func_evals = 0
                opt_cond = False
                if n_iter != max_iter:
                    # Re-evaluate unless this was the last iteration.
                    loss = self._evaluate(closure)
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _abs_max(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _abs_max(d * t) <= tolerance_change:  # the parameters barely moved
                break
            if abs(loss - prev_loss) < tolerance_change:  # the loss barely changed
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss


def _copy_tensors(value: Any) -> Any:
    """A deep copy of a state value: detached CPU clones of tensors, in lists too."""
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_tensors(v) for v in value)
    return copy.deepcopy(value)
