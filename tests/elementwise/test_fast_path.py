"""The no-autograd fast path of elementwise ops (CPU float32/float64 tensors, no gradient
recorded: one kernel call that allocates its output) gives the same bits, dtypes and errors
as the full path (the same op on inputs that require grad), including broadcasting,
comparisons and Python-number operands on either side."""

import numpy as np
import pytest

import ember

SHAPES = [((3, 5), (3, 5)), ((4, 1, 7), (6, 1)), ((1,), (2, 3)), ((), (5,))]
OPS = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "lt", "eq"]


def _pair(shape_a, shape_b, dtype, rng, grad):
    a = ember.from_numpy(rng.uniform(0.5, 2.0, shape_a).astype(dtype))
    b = ember.from_numpy(rng.uniform(0.5, 2.0, shape_b).astype(dtype))
    return (a.requires_grad_(), b) if grad else (a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("op", OPS)
def test_binary_fast_path_matches_the_full_path(op, shapes, dtype, rng):
    fast_a, fast_b = _pair(*shapes, dtype, rng, grad=False)
    full_a, full_b = fast_a.clone().requires_grad_(), fast_b.clone()
    fn = getattr(ember, op)
    fast, full = fn(fast_a, fast_b), fn(full_a, full_b)
    assert fast.dtype is full.dtype and fast.shape == full.shape and not fast.requires_grad
    np.testing.assert_array_equal(fast.numpy(), full.detach().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("number", [2.5, 3, -(2**53), 1e-30])
def test_number_operands_match_the_full_path(number, dtype, rng):
    x = ember.from_numpy(rng.uniform(0.5, 2.0, (4, 3)).astype(dtype))
    xg = x.clone().requires_grad_()
    cases = [
        (x + number, xg + number),
        (number - x, number - xg),
        (x * number, xg * number),
        (number / x, number / xg),
        (x > number, xg > number),
    ]
    for fast, full in cases:
        assert fast.dtype is full.dtype
        np.testing.assert_array_equal(fast.numpy(), full.detach().numpy())


@pytest.mark.parametrize("op", ["exp", "tanh", "relu", "sigmoid", "neg", "sqrt"])
def test_unary_fast_path_matches_the_full_path(op, rng):
    x = ember.from_numpy(rng.uniform(0.1, 2.0, (3, 7)).astype(np.float32))
    fast = getattr(ember, op)(x)
    full = getattr(ember, op)(x.clone().requires_grad_())
    np.testing.assert_array_equal(fast.numpy(), full.detach().numpy())
    with ember.no_grad():  # grad mode off takes the fast path too
        np.testing.assert_array_equal(getattr(ember, op)(x.clone()).numpy(), fast.numpy())


def test_fast_path_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"ember.add: shapes \(2, 3\) and \(4,\) cannot be"):
        ember.zeros(2, 3) + ember.zeros(4)
    with pytest.raises(ValueError, match=r"ember.mul: shapes \(2, 3\) and \(4,\) cannot be"):
        ember.zeros(2, 3, requires_grad=True) * ember.zeros(4)
