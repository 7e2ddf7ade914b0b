"""Run one function in ember and in torch on the same float64 data; compare the outputs
and the gradients of sum(output * weights) w.r.t. every input."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _outputs(out: object) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(
    fn_ember: Callable,
    fn_torch: Callable,
    arrays: Sequence[np.ndarray],
    *,
    grad: bool = True,
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """fn_* take the tensors built from ``arrays``; the first output is differentiated."""
    es = [ember.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    eo, to = _outputs(fn_ember(*es)), _outputs(fn_torch(*ts))
    assert len(eo) == len(to)
    for e, t in zip(eo, to):
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), atol=atol, rtol=rtol)
    if not grad or not to[0].requires_grad:
        return
    w = np.random.default_rng(0).standard_normal(tuple(to[0].shape))
    (eo[0] * ember.tensor(w)).sum().backward()
    (to[0] * torch.tensor(w)).sum().backward()
    for e, t in zip(es, ts):
        if t.grad is None:
            continue
        # an input the output does not depend on: torch may give zeros, ember None
        eg = np.zeros(t.shape) if e.grad is None else e.grad.numpy()
        np.testing.assert_allclose(eg, t.grad.numpy(), atol=atol, rtol=rtol)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)
