"""Reductions and softmax through the Tensor API: forward vs numpy float64 on every ISA,
backward by gradcheck."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

DIMS = [None, 0, 1, 2, -1, (0, 2), (0, 1), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reductions_float32(op, dim, keepdim, isa, rng):
    a = rng.standard_normal((5, 17, 33)).astype(np.float32)
    got = getattr(ember, op)(ember.from_numpy(a), dim, keepdim=keepdim)
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min}[op]
    want = ref(a.astype(np.float64), axis=dim, keepdims=keepdim)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_reduction_gradcheck(op, dim, rng):
    a = rng.standard_normal((3, 4, 2)) + (2.0 if op == "prod" else 0.0)
    t = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda x: getattr(ember, op)(x, dim), (t,))


def test_reduction_of_strided_input_and_integers(rng):
    a = rng.integers(-50, 50, (6, 7))
    t = ember.tensor(a)
    assert t.sum().dtype is ember.int64 and t.sum().item() == a.sum()
    np.testing.assert_array_equal(t.T.sum(1).numpy(), a.T.sum(1))
    np.testing.assert_array_equal(t.int().amax(0).numpy(), a.max(0))
    b = ember.tensor(a > 0)
    assert b.any().item() and not b.all().item()
    np.testing.assert_array_equal(b.any(1).numpy(), (a > 0).any(1))
    np.testing.assert_array_equal(b.all(0).numpy(), (a > 0).all(0))
    assert b.sum().item() == (a > 0).sum()
    f = rng.standard_normal((8, 9))
    np.testing.assert_allclose(
        ember.tensor(f)[::2, 1::3].mean(0).numpy(), f[::2, 1::3].mean(0), rtol=1e-12
    )


def test_large_sum_accuracy(rng):
    a = rng.standard_normal(3_000_001).astype(np.float32) + 1
    got = ember.from_numpy(a).sum().item()
    want = a.astype(np.float64).sum()
    assert abs(got - want) / abs(want) < 1e-5


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_dim_and_ties(op, isa, rng):
    a = rng.integers(0, 4, (6, 9, 5)).astype(np.float32)  # many ties
    for d in range(3):
        values, indices = getattr(ember, op)(ember.from_numpy(a), d)
        np.testing.assert_array_equal(values.numpy(), getattr(a, op)(d))
        np.testing.assert_array_equal(indices.numpy(), getattr(a, "arg" + op)(d))
    v, i = getattr(ember, op)(ember.from_numpy(a), 1, keepdim=True)
    assert v.shape == (6, 1, 5) and i.dtype is ember.int64
    assert getattr(ember, "arg" + op)(ember.from_numpy(a)).item() == getattr(a, "arg" + op)()
    t = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda x: getattr(ember, op)(x, 1).values, (t,))
    nan = ember.tensor([1.0, np.nan, 3.0])
    assert np.isnan(getattr(nan, op)().item())
    assert getattr(ember, "arg" + op)(nan).item() == 1


def test_var_std_logsumexp(rng):
    a = rng.standard_normal((4, 6, 5))
    t = ember.tensor(a, requires_grad=True)
    np.testing.assert_allclose(t.var(1).detach().numpy(), a.var(1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(
        t.std((0, 2), correction=0).detach().numpy(), a.std((0, 2)), rtol=1e-12
    )
    np.testing.assert_allclose(ember.var(t, unbiased=False).item(), a.var(), rtol=1e-12)
    big = a * 400
    lse = np.log(np.exp(big - big.max(2, keepdims=True)).sum(2)) + big.max(2)
    np.testing.assert_allclose(ember.tensor(big).logsumexp(2).numpy(), lse, rtol=1e-12)
    assert ember.tensor([-np.inf, -np.inf]).logsumexp(0).item() == -np.inf
    assert gradcheck(lambda x: x.var(1), (t,))
    assert gradcheck(lambda x: x.std(), (t,))
    assert gradcheck(lambda x: x.logsumexp((0, 2), keepdim=True), (t,))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(dim, log, isa, rng):
    a = (rng.standard_normal((7, 33, 5)) * 30).astype(np.float32)
    fn = ember.log_softmax if log else ember.softmax
    got = fn(ember.from_numpy(a), dim).numpy()
    x = a.astype(np.float64)
    z = x - x.max(dim, keepdims=True)
    lsm = z - np.log(np.exp(z).sum(dim, keepdims=True))
    np.testing.assert_allclose(got, lsm if log else np.exp(lsm), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_gradcheck(log, rng):
    t = ember.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    fn = ember.log_softmax if log else ember.softmax
    w = ember.tensor(rng.standard_normal((3, 5)))
    assert gradcheck(lambda x: fn(x, 0) * w, (t,))
    assert gradcheck(lambda x: fn(x, 1) * w, (t,))
