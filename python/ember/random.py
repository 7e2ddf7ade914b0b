"""Random numbers: one global Philox generator (csrc/cpu/random/random.cpp).

Each draw uses counters [offset, offset + n) under the seed, then advances offset, so a
sequence of calls after ``manual_seed(s)`` always gives the same numbers, for any
thread count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _dtype as D
from ._device import CPU, to_device
from ._generator import Generator, default_generator
from ._primitives import empty, kernels
from .ops.creation import _finish, _size, tensor
from .tensor import Tensor

__all__ = [
    "Generator",
    "default_generator",
    "bernoulli",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "multinomial",
    "normal",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "seed",
    "set_rng_state",
]


def manual_seed(seed: int) -> Generator:
    """Seed the global generator: every random op afterwards is reproducible."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator from the OS and return the seed."""
    s = int.from_bytes(np.random.SeedSequence().entropy.to_bytes(16, "little")[:8], "little")
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> tuple[int, int]:
    return default_generator.get_state()


def set_rng_state(state: tuple[int, int]) -> None:
    default_generator.set_state(state)


def _fill(
    kind: str,
    size: tuple,
    low: float,
    high: float,
    dtype: D.dtype,
    device: Any,
    generator: Generator | None,
    op: str,
) -> Tensor:
    dev = CPU if device is None else to_device(device)
    shape = _size(size, op)
    gen = generator or default_generator
    # Draw on the CPU (bitwise the same everywhere), then move.
    t = empty(shape, dtype, CPU)
    s, off = gen._take(t.numel())
    kernels(CPU, op).random_fill(t._impl, kind, low, high, s, off)
    return t if dev.type == "cpu" else t.to(dev)


def _float_dtype(dtype: Any, op: str) -> D.dtype:
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if not dt.is_floating_point:
        raise TypeError(f"ember.{op}: needs a floating dtype, got {dt}")
    return dt


def rand(
    *size: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Uniform samples from [0, 1). Shape: ``size``."""
    t = _fill("uniform", size, 0.0, 1.0, _float_dtype(dtype, "rand"), device, generator, "rand")
    return _finish(t, requires_grad)


def randn(
    *size: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Standard normal samples. Shape: ``size``."""
    t = _fill("normal", size, 0.0, 1.0, _float_dtype(dtype, "randn"), device, generator, "randn")
    return _finish(t, requires_grad)


def randint(
    low: int,
    high: int | None = None,
    size: Any = None,
    *,
    dtype: Any = None,
    device: Any = None,
    generator: Generator | None = None,
) -> Tensor:
    """Integers uniformly from [low, high) (``randint(high, size)`` starts at 0).

    Shape: ``size``.
    """
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("ember.randint: size is required, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    for v in (low, high):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            raise ValueError(f"ember.randint: bounds must be finite, got {v}")
    if high <= low:
        raise ValueError(f"ember.randint: empty range [{low}, {high})")
    dt = D.to_dtype(dtype) if dtype is not None else D.int64
    return _fill(
        "integer",
        (tuple(size),),
        float(int(low)),
        float(int(high)),
        dt,
        device,
        generator,
        "randint",
    )


def rand_like(x: Tensor, *, dtype: Any = None, device: Any = None) -> Tensor:
    """Uniform [0, 1) samples shaped like x."""
    return rand(x.shape, dtype=dtype or x.dtype, device=device or x.device)


def randn_like(x: Tensor, *, dtype: Any = None, device: Any = None) -> Tensor:
    """Standard normal samples shaped like x."""
    return randn(x.shape, dtype=dtype or x.dtype, device=device or x.device)


def randint_like(x: Tensor, low: int, high: int | None = None, *, dtype: Any = None) -> Tensor:
    """Integers from [low, high) shaped like x."""
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=x.device)


def randperm(
    n: int, *, dtype: Any = None, device: Any = None, generator: Generator | None = None
) -> Tensor:
    """A random permutation of 0..n-1 (argsort of uniform keys). Shape: (n,)."""
    keys = rand(n, dtype=D.float64, generator=generator)
    return tensor(np.argsort(keys.numpy(), kind="stable"), dtype=dtype or D.int64, device=device)


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Draw category indices with probabilities proportional to the rows of ``input``
    (non-negative weights, not necessarily normalized; 1-D or 2-D, one row per draw).
    Without replacement a category is drawn at most once, in PyTorch's sequential
    sense (each draw renormalizes over the categories left; zero-weight ones come last,
    once the others are used up): an exponential race over ``-log(u) / w``.

    Shape: (num_samples,) from (n,); (rows, num_samples) from (rows, n).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"ember.multinomial: expected a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(
            f"ember.multinomial: input must be 1-D or 2-D, got shape {tuple(input.shape)}"
        )
    if not input.dtype.is_floating_point:
        raise TypeError(f"ember.multinomial: needs floating-point weights, got {input.dtype}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"ember.multinomial: num_samples must be an int, got {num_samples!r}")
    if num_samples <= 0:
        raise ValueError(f"ember.multinomial: num_samples must be positive, got {num_samples}")
    w = np.atleast_2d(input.detach().cpu().double().numpy())
    n = w.shape[1]
    if n == 0:
        raise ValueError("ember.multinomial: input has no categories")
    if not replacement and num_samples > n:
        raise ValueError(
            f"ember.multinomial: can't draw {num_samples} samples without replacement from "
            f"{n} categories"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(
            "ember.multinomial: weights must be finite and non-negative (no inf or NaN)"
        )
    total = w.sum(axis=1)
    if (total <= 0).any():
        row = int(np.argmax(total <= 0))
        raise ValueError(f"ember.multinomial: row {row} of the weights sums to 0")
    rows = w.shape[0]
    if replacement:
        u = rand(rows, num_samples, dtype=D.float64, generator=generator).numpy()
        cdf = np.cumsum(w, axis=1) / total[:, None]
        picks = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        picks = np.minimum(picks, n - 1)  # u just below 1 against a cdf rounded below 1
    else:
        # Exp(1) arrival times scaled by 1/w: the order of arrival is the sequential draw
        arrival = -np.log1p(-rand(rows, n, dtype=D.float64, generator=generator).numpy())
        keys = np.full_like(w, np.inf)
        np.divide(arrival, w, out=keys, where=w > 0)
        picks = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    picks = picks.astype(np.int64)
    return tensor(picks if input.ndim == 2 else picks[0], device=input.device)


def _fill_(x: Tensor, kind: str, a: float, b: float, generator: Generator | None, op: str):
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: needs a floating-point tensor")
    sample = _fill(kind, (tuple(x.shape),), a, b, x.dtype, x.device, generator, op)
    return x.copy_(sample)


def uniform_(
    self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with uniform samples from [from_, to); returns self."""
    return _fill_(self, "uniform", float(from_), float(to), generator, "uniform_")


def normal_(
    self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with samples from N(mean, std^2); returns self."""
    return _fill_(self, "normal", float(mean), float(std), generator, "normal_")


def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Samples from N(mean, std^2) per element. mean and std are tensors or numbers (they
    broadcast); with two numbers, ``size`` gives the shape. Not differentiable in mean and
    std (PyTorch's gradient for them is zero).

    Shape: broadcast(mean.shape, std.shape), or ``size``.
    """
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    for v in (mean, std):
        if not isinstance(v, Tensor) and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise TypeError(f"ember.normal: mean and std must be tensors or numbers, got {v!r}")
    if not tensors:
        if size is None:
            raise TypeError("ember.normal: with number mean and std, size is required")
        if float(std) < 0:
            raise ValueError(f"ember.normal: std must be >= 0, got {std}")
        t = _fill("normal", (size,), float(mean), float(std), _float_dtype(dtype, "normal"),
                  device, generator, "normal")  # fmt: skip
        return _finish(t, requires_grad)
    if size is not None:
        raise TypeError("ember.normal: size is only accepted with number mean and std")
    if not all(t.dtype.is_floating_point for t in tensors):
        raise TypeError("ember.normal: mean and std tensors must be floating point")
    if isinstance(std, Tensor) and bool((std < 0).any().item()):
        raise ValueError("ember.normal: std must be >= 0 everywhere")
    if not isinstance(std, Tensor) and std < 0:
        raise ValueError(f"ember.normal: std must be >= 0, got {std}")
    m = mean.detach() if isinstance(mean, Tensor) else mean
    s = std.detach() if isinstance(std, Tensor) else std
    ref = tensors[0]
    shape = tuple((m * 0 + s * 0).shape) if len(tensors) == 2 else tuple(ref.shape)
    z = _fill("normal", (shape,), 0.0, 1.0, ref.dtype, ref.device, generator, "normal")
    return z * s + m


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill in place with samples from the exponential distribution of rate ``lambd``
    (density lambd * exp(-lambd x), x > 0); returns self."""
    if not lambd > 0:
        raise ValueError(f"ember.exponential_: lambd must be > 0, got {lambd}")
    if not isinstance(self, Tensor) or not self.dtype.is_floating_point:
        raise TypeError("ember.exponential_: needs a floating-point tensor")
    u = _fill("uniform", (tuple(self.shape),), 0.0, 1.0, self.dtype, self.device, generator,
              "exponential_")  # fmt: skip
    # 1 - u is in (0, 1]: -log of it is finite
    return self.copy_((1.0 - u).log() * (-1.0 / float(lambd)))


def bernoulli(input: Tensor, *, generator: Generator | None = None) -> Tensor:
    """1 with probability input (elementwise), else 0, in input's dtype.

    Shape: same as input.
    """
    if not isinstance(input, Tensor) or not input.dtype.is_floating_point:
        raise TypeError("ember.bernoulli: input must be a floating tensor of probabilities")
    u = rand(input.shape, dtype=input.dtype, device=input.device, generator=generator)
    return (u < input.detach()).to(input.dtype)


# random.py sits above ops/: the random Tensor methods are bound here
Tensor.multinomial = multinomial
Tensor.uniform_ = uniform_
Tensor.normal_ = normal_
Tensor.exponential_ = exponential_
Tensor.bernoulli = bernoulli
