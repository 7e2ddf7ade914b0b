"""Activation functions beyond relu/gelu/silu/tanh/sigmoid, composed of elementwise ops
(autograd comes from the parts): softplus, elu, selu, celu, leaky_relu, hardtanh,
relu6, hardsigmoid, hardswish, mish, logsigmoid, softsign, glu, and clamp_min/clamp_max.

Branches are selected by ``where`` with each branch's input clamped to its own side, so
the unused branch never overflows (an inf there would turn its zero gradient into NaN)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from ._util import check_tensor, norm_dim
from .elementwise import clamp, exp, log, sigmoid, tanh, where
from .shape import chunk


def _log1p_exp(z: Tensor) -> Tensor:
    """log(1 + e^z) for z <= 0, accurate where 1 + e^z rounds: with u = e^z and v = 1 + u
    rounded, log1p(u) = log(v) * u / (v - 1) (Goldberg), and u itself where v == 1."""
    u = exp(z)
    v = u + 1.0
    exact = v == 1.0
    denom = where(exact, 1.0, v - 1.0)  # never 0, so the unused branch has no NaN gradient
    return where(exact, u, log(v) * (u / denom))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold.

    Shape: same as input.
    """
    check_tensor(input, "softplus")
    z = input * beta
    pos = clamp(z, min=0.0)
    neg = clamp(z, max=0.0)
    smooth = where(z > 0, pos + _log1p_exp(-pos), _log1p_exp(neg))
    return where(z > threshold, input, smooth / beta)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise. Shape: same as input."""
    check_tensor(input, "elu")
    return where(input > 0, input, (exp(clamp(input, max=0.0)) - 1.0) * alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants. Shape: same as input."""
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise. Shape: same as input."""
    check_tensor(input, "celu")
    return where(input > 0, input, (exp(clamp(input, max=0.0) / alpha) - 1.0) * alpha)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise. Shape: same as input."""
    check_tensor(input, "leaky_relu")
    return where(input > 0, input, input * negative_slope)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clamped into [min_val, max_val]. Shape: same as input."""
    check_tensor(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"ember.hardtanh: min_val {min_val} is greater than max_val {max_val}")
    return _clamp_flat_edges(input, min_val, max_val)


def _clamp_flat_edges(x: Tensor, lo: float, hi: float) -> Tensor:
    """clamp(x, lo, hi) with PyTorch's hardtanh gradient: 0 at the bounds themselves
    (clamp's own gradient passes there)."""
    inside = (x > lo) & (x < hi)
    return where(inside, x, clamp(x.detach(), lo, hi))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6). Shape: same as input."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """The piecewise-linear sigmoid clamp(x / 6 + 1/2, 0, 1). Shape: same as input."""
    check_tensor(input, "hardsigmoid")
    return _clamp_flat_edges(input + 3.0, 0.0, 6.0) / 6.0  # torch's order of operations


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * hardsigmoid(x). Shape: same as input."""
    return input * hardsigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)). Shape: same as input."""
    return input * tanh(softplus(input))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|. Shape: same as input."""
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|). Shape: same as input."""
    check_tensor(input, "softsign")
    return input / (input.abs() + 1.0)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b) for the two halves a, b of input along ``dim``.

    Shape: input.shape with shape[dim] halved.
    """
    check_tensor(input, "glu")
    d = norm_dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ValueError(f"ember.glu: dimension {d} must have an even size, got {input.shape[d]}")
    a, b = chunk(input, 2, d)
    return a * sigmoid(b)


def clamp_min(input: Tensor, min: Any) -> Tensor:  # noqa: A002 - torch's name
    """max(x, min) elementwise. Shape: same as input."""
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:  # noqa: A002 - torch's name
    """min(x, max) elementwise. Shape: same as input."""
    return clamp(input, max=max)
