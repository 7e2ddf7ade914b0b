"""Elementwise ops added for issue 15 against torch: rounding (halves, decimals), log1p,
expm1, erf, lerp, equal, with gradients."""

import numpy as np
import pytest
from torch_compare import compare, randn, torch

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


@pytest.mark.parametrize("weight", [0.3, -0.7, 0.5, 1.0, 1.6])
def test_lerp_number_weight(weight):
    compare(
        lambda a, b: ember.lerp(a, b, weight),
        lambda a, b: torch.lerp(a, b, weight),
        [randn(3, 4), randn(3, 4, seed=1)],
        atol=0,
        rtol=1e-15,  # torch's formula on each side of |w| = 0.5 (its kernel may fuse to fma)
    )


def test_lerp_tensor_weight_broadcast_and_inplace():
    w = np.array([-0.6, 0.2, 0.5, 0.9])
    compare(
        lambda a, b, c: ember.lerp(a, b, c),
        lambda a, b, c: torch.lerp(a, b, c),
        [randn(3, 4), randn(1, 4, seed=1), w],
    )
    compare(
        lambda a, b: a.lerp(b, 0.25), lambda a, b: a.lerp(b, 0.25), [randn(5), randn(5, seed=2)]
    )
    compare(
        lambda a, b: (a * 1.0).lerp_(b, 0.75),
        lambda a, b: (a * 1.0).lerp_(b, 0.75),
        [randn(5), randn(5, seed=2)],
    )


def test_equal():
    a = np.array([[1.0, 2.0], [3.0, np.nan]])
    for x, y in [(a, a), (a[:, :1], a[:, :1]), (a[0], a[0] + 1), (a[0], a), (a[0], a[0])]:
        assert ember.equal(ember.tensor(x), ember.tensor(y)) == torch.equal(
            torch.tensor(x), torch.tensor(y)
        )
    assert ember.tensor([1, 2]).equal(ember.tensor([1, 2]))
    with pytest.raises(TypeError, match="Tensors"):
        ember.equal(ember.tensor([1]), [1])
