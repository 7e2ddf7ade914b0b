"""Accuracy of the float32 vector exp / sigmoid / silu / gelu (both forms) over dense grids
against float64, on every ISA: the bounds the cheaper polynomials and gelu's rational
normal CDF (with its separate tail for x < -3) must keep."""

import math

import ember._C as _C
import numpy as np
import pytest

from reference import grad_ref, unary_ref

F32_TOL = dict(rtol=2e-6, atol=1e-6)
# 16 float32 lanes per AVX-512 vector: sizes that leave partial vectors and tails
AWKWARD_SIZES = [1, 3, 15, 16, 17, 33, 1000, 4099]


def T(a):
    return _C.TensorImpl.from_buffer(a)


def run(op, x):
    out = np.full_like(x, np.nan)
    _C.unary(op, T(x), T(out), 0.0, 0.0)
    return out


def run_backward(op, x, g):
    y = run(op, x)
    gin = np.full_like(x, np.nan)
    _C.unary_backward(op, T(x), T(y), T(g), T(gin), 0.0, 0.0)
    return gin


def test_exp_within_one_ulp(isa):
    # normal results only: below -87.3 the result is subnormal and ulps are absolute
    x = np.linspace(-87.0, 88.7, 1_000_001, dtype=np.float32)
    ref = np.exp(x.astype(np.float64))
    got = run("exp", x).astype(np.float64)
    ulps = np.abs(got - ref) / np.spacing(ref.astype(np.float32)).astype(np.float64)
    # generic's vfma is a multiply and an add (two roundings)
    assert ulps.max() <= (1.5 if isa == "generic" else 1.0)
    assert run("exp", np.zeros(17, np.float32)).tolist() == [1.0] * 17


@pytest.mark.parametrize("op", ["sigmoid", "silu", "gelu", "gelu_tanh"])
def test_activation_dense_grid(op, isa):
    # includes gelu's branch points (-3, +-4 sqrt 2) and large arguments of both signs
    x = np.concatenate(
        [
            np.linspace(-12.0, 12.0, 600_001),
            [-3.0, np.nextafter(-3.0, 0), -4 * math.sqrt(2), 4 * math.sqrt(2), 1e4, -1e4],
        ]
    ).astype(np.float32)
    np.testing.assert_allclose(run(op, x), unary_ref(op, x), **F32_TOL)


@pytest.mark.parametrize("op", ["sigmoid", "silu", "gelu", "gelu_tanh"])
def test_activation_backward_dense_grid(op, isa):
    x = np.linspace(-12.0, 12.0, 300_001).astype(np.float32)
    g = np.ones_like(x)
    np.testing.assert_allclose(run_backward(op, x, g), grad_ref(op, x, g), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("n", AWKWARD_SIZES)
def test_gelu_tail_lanes_mixed_with_others(n, isa, rng):
    # gelu's x < -3 lanes take a separate formula when any lane of a vector has one:
    # a lone tail lane among ordinary ones, and whole vectors of tail values
    x = rng.normal(0.0, 1.0, n).astype(np.float32)
    x[rng.integers(0, n)] = -4.5
    x[: n // 2] = np.where(np.arange(n // 2) % 2, x[: n // 2], -rng.uniform(3.0, 9.0, n // 2))
    np.testing.assert_allclose(run("gelu", x), unary_ref("gelu", x), **F32_TOL)
    g = rng.normal(0.0, 1.0, n).astype(np.float32)
    np.testing.assert_allclose(
        run_backward("gelu", x, g), grad_ref("gelu", x, g), rtol=2e-6, atol=2e-6
    )


@pytest.mark.parametrize("op", ["exp", "sigmoid", "silu", "gelu", "gelu_tanh"])
def test_special_values(op, isa):
    x = np.array(
        [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-40, -1e-40, 3e38, -3e38, -3.0, -5.7, 88.0, -100.0],
        np.float32,
    )
    with np.errstate(all="ignore"):
        ref = unary_ref(op, x).astype(np.float32)
    got = run(op, x)
    np.testing.assert_allclose(got, ref, **F32_TOL, equal_nan=True)
    assert np.isnan(got[2])
    assert np.signbit(got[4]) == np.signbit(ref[4])  # -0 keeps its sign where the formula does
