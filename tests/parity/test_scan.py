"""cumsum/cumprod, nonzero/argwhere/count_nonzero, var_mean/std_mean against torch."""

import numpy as np
import pytest
from torch_compare import compare, randn, torch

import ember


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans(op, dim):
    compare(
        lambda x: getattr(ember, op)(x, dim), lambda x: getattr(torch, op)(x, dim), [randn(3, 4, 5)]
    )
    compare(lambda x: getattr(x, op)(dim), lambda x: getattr(x, op)(dim), [randn(3, 4, 5)])


def test_cumprod_gradient_with_zeros():
    x = randn(2, 6)
    x[0, 2] = 0.0
    x[1, 1] = x[1, 4] = 0.0
    compare(lambda x: ember.cumprod(x, 1), lambda x: torch.cumprod(x, 1), [x])


def test_integer_scans_promote_to_int64():
    x = np.arange(1, 7).reshape(2, 3).astype(np.int32)
    for op in ("cumsum", "cumprod"):
        e = getattr(ember, op)(ember.tensor(x), 1)
        t = getattr(torch, op)(torch.tensor(x), 1)
        assert e.dtype is ember.int64 and t.dtype == torch.int64
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    e = ember.cumsum(ember.tensor(x), 0, dtype=ember.float32)
    assert e.dtype is ember.float32


def test_nonzero_family():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    e, t = ember.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(ember.nonzero(e).numpy(), torch.nonzero(t).numpy())
    np.testing.assert_array_equal(ember.argwhere(e).numpy(), torch.argwhere(t).numpy())
    for a, b in zip(ember.nonzero(e, as_tuple=True), torch.nonzero(t, as_tuple=True)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(ember.where(e > 0), torch.where(t > 0)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for dim in (None, 0, 1):
        np.testing.assert_array_equal(
            ember.count_nonzero(e, dim).numpy(), torch.count_nonzero(t, dim).numpy()
        )


@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
@pytest.mark.parametrize("fn", ["var_mean", "std_mean"])
def test_var_std_mean(dim, fn):
    compare(
        lambda x: getattr(ember, fn)(x, dim), lambda x: getattr(torch, fn)(x, dim), [randn(3, 4, 5)]
    )
    compare(
        lambda x: getattr(ember, fn)(x, dim, correction=0, keepdim=True),
        lambda x: getattr(torch, fn)(x, dim, correction=0, keepdim=True),
        [randn(3, 4, 5)],
    )
