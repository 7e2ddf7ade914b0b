"""Finite-difference gradient checking in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._dtype import float64
from .._primitives import fresh_copy, wrap_numpy
from ..tensor import Tensor
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytic and numerical Jacobians disagree."""


def _as_outputs(out: Any) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the autograd Jacobian of ``fn(*inputs)`` with central finite differences.

    Every floating input that requires grad must be float64 (as in PyTorch). Returns True,
    or raises GradcheckError (or returns False with ``raise_exception=False``).
    """
    inputs = tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("ember.autograd.gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype is not float64:
            raise TypeError(
                f"ember.autograd.gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs"
            )
        if not inputs[i].is_leaf:
            raise ValueError(
                f"ember.autograd.gradcheck: input {i} is not a leaf; pass "
                "ember.tensor(..., requires_grad=True) or x.detach().requires_grad_()"
            )
        if not inputs[i].is_contiguous():
            raise ValueError(f"ember.autograd.gradcheck: input {i} must be contiguous")

    with no_grad():
        outs = [o for o in _as_outputs(fn(*inputs)) if isinstance(o, Tensor)]
    out_sizes = [o.numel() for o in outs]

    def flat_outputs() -> np.ndarray:
        with no_grad():
            res = [o for o in _as_outputs(fn(*inputs)) if isinstance(o, Tensor)]
        return np.concatenate([np.asarray(o.detach().double()).ravel() for o in res])

    for i in diff:
        x = inputs[i]
        xs = x.detach().numpy().reshape(-1)  # shares memory with x: perturb in place
        numerical = np.zeros((xs.size, sum(out_sizes)))
        for k in range(xs.size):
            orig = xs[k]
            xs[k] = orig + eps
            plus = flat_outputs()
            xs[k] = orig - eps
            minus = flat_outputs()
            xs[k] = orig
            numerical[k] = (plus - minus) / (2 * eps)

        analytic = np.zeros_like(numerical)
        col = 0
        for o_idx, size in enumerate(out_sizes):
            for j in range(size):
                for t in inputs:
                    if isinstance(t, Tensor):
                        t.grad = None
                out = [o for o in _as_outputs(fn(*inputs)) if isinstance(o, Tensor)][o_idx]
                if not out.requires_grad:
                    col += 1
                    continue
                seed = np.zeros(size)
                seed[j] = 1.0
                out.backward(fresh_copy(wrap_numpy(seed.reshape(out.shape)), out.dtype))
                if x.grad is not None:
                    analytic[:, col] = np.asarray(x.grad.double()).ravel()
                col += 1
        for t in inputs:
            if isinstance(t, Tensor):
                t.grad = None
        if not np.allclose(analytic, numerical, atol=atol, rtol=rtol):
            err = np.abs(analytic - numerical).max()
            msg = (
                f"ember.autograd.gradcheck: Jacobian mismatch for input {i} (max abs error "
                f"{err:.3g})\nnumerical:\n{numerical}\nanalytic:\n{analytic}"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
