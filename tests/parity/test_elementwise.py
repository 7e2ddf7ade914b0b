"""Elementwise ops added for issue 15 against torch: rounding (halves, decimals), log1p,
expm1, erf, with gradients."""

import numpy as np
import pytest
from torch_compare import compare, torch

import ember


def points():
    halves = np.arange(-10, 11) / 2.0
    return np.concatenate([halves, np.linspace(-7, 7, 57), [1e-9, -1e-9, 0.0, 123.456]])


@pytest.mark.parametrize("op", ["floor", "ceil", "trunc", "round", "fix"])
def test_rounding(op):
    compare(getattr(ember, op), getattr(torch, op), [points()])
    compare(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), [points()])


@pytest.mark.parametrize("decimals", [-2, -1, 1, 3])
def test_round_decimals(decimals):
    x = points() * 37.3
    compare(
        lambda t: ember.round(t, decimals=decimals),
        lambda t: torch.round(t, decimals=decimals),
        [x],
    )
    x32 = x.astype(np.float32)
    got = ember.from_numpy(x32).round(decimals=decimals).numpy()
    np.testing.assert_array_equal(got, torch.from_numpy(x32).round(decimals=decimals).numpy())


@pytest.mark.parametrize("op", ["log1p", "expm1", "erf"])
def test_special(op):
    x = points()
    if op == "log1p":
        x = x[x > -1]
    compare(getattr(ember, op), getattr(torch, op), [x], atol=1e-12, rtol=1e-12)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(
        getattr(ember, op)(ember.from_numpy(x32)).numpy(),
        getattr(torch, op)(torch.from_numpy(x32)).numpy(),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("op", ["floor", "ceil", "trunc", "round", "log1p", "expm1", "erf"])
def test_inplace(op):
    x = np.abs(points())
    e, t = ember.tensor(x), torch.tensor(x)
    getattr(e, op + "_")()
    getattr(t, op + "_")()
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-14)


def test_integer_rounding():
    x = np.array([-3, 0, 7])
    for op in ["floor", "ceil", "trunc", "round"]:
        e = getattr(ember, op)(ember.tensor(x))
        t = getattr(torch, op)(torch.tensor(x))
        assert (
            e.tolist() == t.tolist() and str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        )
