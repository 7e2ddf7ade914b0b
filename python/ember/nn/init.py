"""Weight initialization, in place and under no_grad, with PyTorch's formulas.

Every random initializer draws from ember's Philox generator (the global one, seeded by
``ember.manual_seed``, or ``generator=``) in float64 on the CPU and then copies into the
tensor, so the same seed gives the same weights on every device, dtype and thread count.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

from ..autograd.grad_mode import no_grad
from ..ops.creation import eye, from_numpy
from ..random import rand, randn
from ..tensor import Tensor

_SKIPPING: ContextVar[bool] = ContextVar("ember_nn_init_skipping", default=False)
_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def no_init() -> Iterator[None]:
    """Within this block every initializer here returns its tensor untouched (and draws
    no random numbers): for building a model whose weights are about to be replaced
    (loading), so that construction neither spends time on random init nor touches the
    memory of weights that will be dropped.

    >>> with ember.nn.init.no_init():
    ...     model = GPT(config)  # uninitialized weights
    """
    token = _SKIPPING.set(True)
    try:
        yield
    finally:
        _SKIPPING.reset(token)


def _skippable(fn: _F) -> _F:
    @functools.wraps(fn)
    def wrapper(t: Any, *args: Any, **kwargs: Any) -> Any:
        return t if _SKIPPING.get() else fn(t, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _check(t: Any, op: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"ember.nn.init.{op}: expected a Tensor, got {type(t).__name__}")
    return t


def _no_op(t: Tensor, op: str) -> bool:
    if t.numel() == 0:
        warnings.warn(
            f"ember.nn.init.{op}: initializing a zero-element tensor is a no-op", stacklevel=3
        )
        return True
    return False


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field size
    (the product of the dims after the first two), as PyTorch computes them."""
    if tensor.ndim < 2:
        raise ValueError(
            "ember.nn.init: fan in and fan out can not be computed for a tensor with fewer "
            f"than 2 dimensions (got shape {tuple(tensor.shape)})"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_fan_in_out = _calculate_fan_in_and_fan_out


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"ember.nn.init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _draw(kind: str, t: Tensor, generator: Any) -> Tensor:
    fn = rand if kind == "uniform" else randn
    return fn(t.shape, dtype="float64", generator=generator)


def _write(t: Tensor, values: Any) -> Tensor:
    """Copy values (a Tensor or numpy array) into t in place, with no autograd record."""
    if not isinstance(values, Tensor):
        values = from_numpy(np.ascontiguousarray(values, dtype=np.float64))
    with no_grad():
        return t.copy_(values)


@_skippable
def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill t with samples from U(a, b). Returns t."""
    _check(t, "uniform_")
    if _no_op(t, "uniform_"):
        return t
    with no_grad():
        return _write(t, _draw("uniform", t, generator) * (b - a) + a)


@_skippable
def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill t with samples from N(mean, std^2). Returns t."""
    _check(t, "normal_")
    if _no_op(t, "normal_"):
        return t
    with no_grad():
        return _write(t, _draw("normal", t, generator) * std + mean)


@_skippable
def constant_(t: Tensor, val: float) -> Tensor:
    """Fill t with val. Returns t."""
    _check(t, "constant_")
    with no_grad():
        return t.fill_(val)


def zeros_(t: Tensor) -> Tensor:
    """Fill t with 0. Returns t."""
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    """Fill t with 1. Returns t."""
    return constant_(t, 1.0)


@_skippable
def eye_(t: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix. Returns t."""
    _check(t, "eye_")
    if t.ndim != 2:
        raise ValueError(f"ember.nn.init.eye_: only 2-D tensors are supported, got {t.shape}")
    with no_grad():
        return t.copy_(eye(t.shape[0], t.shape[1], dtype=t.dtype, device=t.device))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    linear = (
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    )
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"ember.nn.init.calculate_gain: negative_slope {param!r} not valid")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"ember.nn.init.calculate_gain: unsupported nonlinearity {nonlinearity!r}")


@_skippable
def kaiming_uniform_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He initialization: U(-b, b) with b = gain * sqrt(3 / fan), gain from
    ``calculate_gain(nonlinearity, a)``, fan = fan_in or fan_out by ``mode``."""
    _check(t, "kaiming_uniform_")
    if _no_op(t, "kaiming_uniform_"):
        return t
    fan = _calculate_correct_fan(t, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return uniform_(t, -bound, bound, generator)


@_skippable
def kaiming_normal_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He initialization: N(0, std^2) with std = gain / sqrt(fan)."""
    _check(t, "kaiming_normal_")
    if _no_op(t, "kaiming_normal_"):
        return t
    fan = _calculate_correct_fan(t, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return normal_(t, 0.0, std, generator)


@_skippable
def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot initialization: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    _check(t, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    if _no_op(t, "xavier_uniform_"):
        return t
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


@_skippable
def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot initialization: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(t, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    if _no_op(t, "xavier_normal_"):
        return t
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


# Acklam's rational approximation of the standard normal quantile (relative error
# < 1.2e-9), vectorized: numpy has no erfinv and initialization runs on the CPU anyway.
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
      -30.66479806614716, 2.506628277459239)  # fmt: skip
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
      -13.28068155288572)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838, -2.549732539343734,
      4.374664141464968, 2.938163982698783)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996, 3.754408661907416)


def _ndtri(p: np.ndarray) -> np.ndarray:
    """The x with Phi(x) = p, for p in [0, 1] (+-inf at the ends)."""
    p = np.asarray(p, dtype=np.float64)
    x = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1
    x[mid] = num * q / den
    with np.errstate(divide="ignore", invalid="ignore"):
        for mask, sgn, tail in ((lo, 1.0, p[lo]), (hi, -1.0, 1 - p[hi])):
            q = np.sqrt(-2 * np.log(tail))
            num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
            den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1
            x[mask] = sgn * num / den
    x[p <= 0.0] = -np.inf  # inf / inf above
    x[p >= 1.0] = np.inf
    return x


@_skippable
def trunc_normal_(
    t: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill t with N(mean, std^2) samples truncated to [a, b] (a and b are absolute
    values, not multiples of std, as in PyTorch): inverse-CDF sampling, so every draw
    lands in [a, b] and uses one uniform number."""
    _check(t, "trunc_normal_")
    if not a < b:
        raise ValueError(f"ember.nn.init.trunc_normal_: need a < b, got a={a}, b={b}")
    if not std > 0:
        raise ValueError(f"ember.nn.init.trunc_normal_: std must be positive, got {std}")
    if _no_op(t, "trunc_normal_"):
        return t

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
    u = _draw("uniform", t, generator).numpy()
    x = _ndtri(lo + (hi - lo) * u) * std + mean
    return _write(t, np.clip(x, a, b))


@_skippable
def orthogonal_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Fill t with a (semi-)orthogonal matrix (the trailing dims flattened): Q of the QR
    decomposition of a Gaussian matrix, signs fixed by diag(R) (Saxe et al. 2013)."""
    _check(t, "orthogonal_")
    if t.ndim < 2:
        raise ValueError(
            f"ember.nn.init.orthogonal_: only tensors with 2 or more dimensions are supported, "
            f"got shape {tuple(t.shape)}"
        )
    if _no_op(t, "orthogonal_"):
        return t
    rows = t.shape[0]
    cols = t.numel() // rows
    g = _draw("normal", t, generator).numpy().reshape(rows, cols)
    if rows < cols:
        g = g.T
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(t, (q * gain).reshape(t.shape))


__all__ = [
    "calculate_gain",
    "no_init",
    "constant_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
