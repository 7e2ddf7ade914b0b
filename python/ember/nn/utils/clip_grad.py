"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` and friends), each one fused
kernel call over all the gradients (csrc/cpu/optim/grad_norm.cpp, or
csrc/cuda/optim/grad_norm.cu for gradients on one CUDA device)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ... import _dtype as D
from ..._device import CPU
from ..._primitives import full, kernels
from ...tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor], op: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"ember.nn.utils.{op}: parameters[{i}] is a {type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad)
    return out


def _impls(tensors: list[Tensor], op: str, writable: bool) -> list:
    impls = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"ember.nn.utils.{op}: tensors[{i}] is a {type(t).__name__}")
        if t.dtype not in (D.float32, D.float64):
            raise TypeError(
                f"ember.nn.utils.{op}: gradient {i} has dtype {t.dtype.name} (expected "
                "float32 or float64)"
            )
        if not t.is_contiguous():
            if writable:
                raise ValueError(
                    f"ember.nn.utils.{op}: gradient {i} of shape {tuple(t.shape)} is not contiguous"
                )
            t = t.contiguous()
        impls.append(t._impl)
    return impls


def _norm_tensor(value: float, tensors: list[Tensor]) -> Tensor:
    """The norm as a 0-d tensor on the tensors' device (as PyTorch returns it): float64 if
    any input is float64, else float32."""
    dt = D.float64 if any(t.dtype is D.float64 for t in tensors) else D.float32
    return full((), value, dt, tensors[0].device if tensors else CPU)


def _norm_type(norm_type: float | str, op: str) -> float:
    p = float(norm_type)
    if not (p > 0):
        raise ValueError(f"ember.nn.utils.{op}: norm_type must be positive or inf, got {norm_type}")
    return p


def _bump(tensors: list[Tensor]) -> None:
    for t in tensors:
        t._version_box[0] += 1


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The norm of all the tensors together, as if concatenated into one vector.

    Args:
        tensors: a tensor or tensors (usually gradients).
        norm_type: p of the p-norm (> 0, or ``inf`` for the max norm).
        error_if_nonfinite: raise RuntimeError when the norm is NaN or infinite.
        foreach: accepted for PyTorch compatibility (always one fused call).

    Shape:
        tensors: any shapes; returns a 0-d tensor (float32, float64 if any input is).
    """
    op = "get_total_norm"
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    p = _norm_type(norm_type, op)
    if not tensors:
        return _norm_tensor(0.0, [])
    impls = _impls(tensors, op, False)
    norm, _ = kernels(tensors[0].device, op).total_norm(impls, p)
    if error_if_nonfinite and not math.isfinite(norm):
        raise RuntimeError(_nonfinite_msg(p))
    return _norm_tensor(norm, tensors)


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Tensor | float,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` when that is below 1
    (``total_norm`` from :func:`get_total_norm`).

    Shape:
        gradients of any shape (contiguous); total_norm a number or one-element tensor.
    """
    op = "clip_grads_with_norm_"
    grads = _grads(parameters, op)
    if not grads:
        return
    total = float(total_norm.item() if isinstance(total_norm, Tensor) else total_norm)
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # scaling by the clamped coefficient 1 changes nothing
        impls = _impls(grads, op, True)
        kernels(grads[0].device, op).scale_all(impls, coef)
        _bump(grads)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Clip the gradients of ``parameters`` in place so that their total norm (all
    gradients concatenated) is at most ``max_norm``; returns the norm before clipping.

    One fused call, two passes over the gradients: the norm (with a NaN/inf flag, at no
    extra cost), then ``g *= max_norm / (norm + 1e-6)`` when that factor is below 1.
    Parameters whose ``grad`` is None are ignored.

    Args:
        parameters: a tensor or tensors whose ``.grad`` is clipped.
        max_norm: the largest allowed norm.
        norm_type: p of the p-norm (> 0, or ``inf`` for the max norm; default 2).
        error_if_nonfinite: raise RuntimeError (gradients untouched) when the norm is NaN
            or infinite; otherwise they are scaled by the non-finite factor, as in
            PyTorch.
        foreach: accepted for PyTorch compatibility (always one fused call).

    Shape:
        gradients of any shape (contiguous, float32 or float64); returns a 0-d tensor.
    """
    op = "clip_grad_norm_"
    grads = _grads(parameters, op)
    p = _norm_type(norm_type, op)
    max_norm = float(max_norm)
    if not grads:
        return _norm_tensor(0.0, [])
    impls = _impls(grads, op, True)
    norm, _ = kernels(grads[0].device, op).clip_grad_norm(
        impls, max_norm, p, bool(error_if_nonfinite)
    )
    if error_if_nonfinite and not math.isfinite(norm):
        raise RuntimeError(_nonfinite_msg(p))
    if not max_norm / (norm + 1e-6) >= 1.0:
        _bump(grads)
    return _norm_tensor(norm, grads)


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor],
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place (NaN
    stays NaN), in one fused call.

    Shape:
        gradients of any shape (contiguous, float32 or float64).
    """
    op = "clip_grad_value_"
    grads = _grads(parameters, op)
    clip_value = float(clip_value)
    if not grads:
        return
    impls = _impls(grads, op, True)
    kernels(grads[0].device, op).clip_grad_value(impls, clip_value)
    _bump(grads)


def _nonfinite_msg(p: float) -> str:
    return (
        f"ember.nn.utils.clip_grad_norm_: the total norm of order {p} for gradients from "
        "`parameters` is non-finite, so it cannot be clipped. To disable this error and "
        "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
    )
