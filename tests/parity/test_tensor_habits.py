"""add/sub alpha=, public names in errors, creation and Tensor.new_* habits, isclose."""

import numpy as np
import pytest
from torch_compare import compare, randn, torch

import ember


def test_alpha():
    compare(
        lambda a, b: ember.add(a, b, alpha=-0.5),
        lambda a, b: torch.add(a, b, alpha=-0.5),
        [randn(3), randn(3, seed=1)],
    )
    compare(
        lambda a, b: a.sub(b, alpha=2),
        lambda a, b: a.sub(b, alpha=2),
        [randn(2, 3), randn(3, seed=1)],
    )
    p, g = ember.ones(3), ember.tensor([1.0, 2.0, 3.0])
    assert p.add_(g, alpha=-0.1) is p
    np.testing.assert_allclose(p.numpy(), [0.9, 0.8, 0.7], rtol=1e-6)
    p.sub_(g, alpha=2)
    np.testing.assert_allclose(p.numpy(), [-1.1, -3.2, -5.3], rtol=1e-6)
    i = ember.tensor([1, 2])
    np.testing.assert_array_equal(ember.add(i, i, alpha=3).numpy(), [4, 8])
    with pytest.raises(TypeError, match="ember.add"):
        ember.add(i, i, alpha=0.5)


def test_errors_name_the_public_op():
    x = ember.ones(2)
    for call, name in [
        (lambda: x.mul_(x, alpha=2), "ember.mul_()"),
        (lambda: x.add_(), "ember.add_()"),
        (lambda: ember.mul(x, x, y=1), "ember.mul()"),
        (lambda: x.view_as(), "Tensor.view_as()"),
        (lambda: x.clamp_(x, x, x), "clamp()"),
    ]:
        with pytest.raises(TypeError) as err:
            call()
        assert name in str(err.value) and "<locals>" not in str(err.value)


def test_creation_and_new_methods():
    np.testing.assert_allclose(ember.logspace(0, 2, 3).numpy(), torch.logspace(0, 2, 3).numpy())
    np.testing.assert_allclose(ember.logspace(0, 3, 4, base=2).numpy(), [1, 2, 4, 8])
    x = ember.ones(2, dtype=ember.float64)
    assert x.new_empty(3, 2).shape == (3, 2) and x.new_empty(3).dtype is ember.float64
    assert x.new_zeros(2, dtype=ember.int64).dtype is ember.int64
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0]
    assert ember.ones(2, dtype=ember.int64).type_as(x).dtype is ember.float64
    assert x.clone(memory_format=None).tolist() == [1.0, 1.0]


def test_isclose_allclose():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 1.0, 0.0])
    b = np.array([1.0 + 1e-9, np.inf, np.inf, np.nan, 1.1, 1e-9])
    for nan in (False, True):
        np.testing.assert_array_equal(
            ember.isclose(ember.tensor(a), ember.tensor(b), equal_nan=nan).numpy(),
            torch.isclose(torch.tensor(a), torch.tensor(b), equal_nan=nan).numpy(),
        )
    assert ember.allclose(ember.ones(3), ember.ones(3) + 1e-9)
    assert not ember.ones(3).allclose(ember.zeros(3))
    assert ember.isclose(ember.tensor([1.0, 2.0]), 1.0).tolist() == [True, False]
