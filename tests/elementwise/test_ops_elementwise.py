"""Elementwise ops through the Tensor API: forward vs numpy float64 on every ISA,
backward by gradcheck, broadcasting, type promotion, in-place forms."""

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from reference import UNARY_OPS, unary_ref

# clamp takes bounds and gelu_tanh is reached through gelu(approximate="tanh")
UNARY = [op for op in UNARY_OPS if op not in ("clamp", "gelu_tanh")]
POSITIVE_ONLY = {"log", "sqrt", "rsqrt"}


def _input(op, shape, rng, dtype=np.float32):
    x = rng.standard_normal(shape) * 3
    if op in POSITIVE_ONLY:
        x = np.abs(x) + 0.1
    elif op == "log1p":
        x = np.abs(x) - 0.9  # > -1
    return x.astype(dtype)


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("n", [1, 7, 17, 1000, 100_003])
def test_unary_forward_float32(op, n, isa, rng):
    x = _input(op, (n,), rng)
    got = getattr(ember.from_numpy(x), op)().numpy()
    want = unary_ref(op, x)
    np.testing.assert_allclose(got, want, rtol=3e-6, atol=2e-6)


@pytest.mark.parametrize("op", UNARY)
def test_unary_forward_strided_float64(op, rng):
    x = _input(op, (9, 14), rng, np.float64)
    t = ember.from_numpy(x).T[::2]
    np.testing.assert_allclose(
        getattr(t, op)().numpy(), unary_ref(op, x.T[::2]), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("op", UNARY)
def test_unary_gradcheck(op, rng):
    x = _input(op, (3, 4), rng, np.float64)
    if op in ("relu", "abs"):
        x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: getattr(a, op)(), (t,))


def test_gelu_tanh_and_clamp(rng):
    x = rng.standard_normal(50).astype(np.float64)
    t = ember.tensor(x, requires_grad=True)
    want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(ember.gelu(t, approximate="tanh").detach().numpy(), want, rtol=1e-12)
    t6 = ember.tensor(x[:6], requires_grad=True)
    assert gradcheck(lambda a: ember.gelu(a, approximate="tanh"), (t6,))
    np.testing.assert_array_equal(t.clamp(-0.5, 0.7).detach().numpy(), np.clip(x, -0.5, 0.7))
    np.testing.assert_array_equal(t.clamp(min=0).detach().numpy(), np.maximum(x, 0))
    t2 = ember.tensor(x[np.abs(np.abs(x) - 0.5) > 1e-3][:8], requires_grad=True)
    assert gradcheck(lambda a: a.clamp(-0.5, 0.5), (t2,))
    lo = ember.tensor(np.full(8, -0.2))
    assert gradcheck(
        lambda a: ember.clamp(a, min=lo), (ember.tensor(x[:8] + 0.01, requires_grad=True),)
    )


BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "pow": np.power,
}
SHAPES = [
    ((7,), (7,)),
    ((3, 1), (1, 4)),
    ((5, 1, 3), (4, 1)),
    ((2, 3), ()),
    ((), (6,)),
    ((1,), (1000,)),
    ((33, 17), (17,)),
]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_broadcast_float32(op, sa, sb, isa, rng):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    if op == "pow":
        a = np.abs(a) + 0.5
    got = getattr(ember, op)(ember.tensor(a), ember.tensor(b)).numpy()
    want = BINARY[op](a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_gradcheck_with_broadcast(op, rng):
    a = rng.standard_normal((3, 1, 4))
    b = rng.standard_normal((2, 4)) + 0.1 * np.sign(rng.standard_normal((2, 4)))
    if op == "pow":
        a = np.abs(a) + 0.5
    ta, tb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    assert gradcheck(getattr(ember, op), (ta, tb))


def test_operators_and_scalars(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    x = ember.tensor(a)
    np.testing.assert_allclose((2 - x).numpy(), 2 - a, rtol=1e-6)
    np.testing.assert_allclose((1 / (x + 10)).numpy(), 1 / (a + 10), rtol=1e-6)
    np.testing.assert_allclose((x**2).numpy(), a**2, rtol=1e-6)
    np.testing.assert_allclose((2**x).numpy(), 2.0**a, rtol=1e-6)
    np.testing.assert_allclose((-x).numpy(), -a)
    np.testing.assert_allclose(abs(x).numpy(), np.abs(a))
    y = ember.tensor(a)
    y += 1
    y *= 2
    y -= x
    y /= 4
    np.testing.assert_allclose(y.numpy(), ((a + 1) * 2 - a) / 4, rtol=1e-6)
    np.testing.assert_array_equal((x > 0).numpy(), a > 0)
    np.testing.assert_array_equal((x == x).numpy(), np.ones_like(a, bool))
    np.testing.assert_array_equal(((x > 0) & (x < 1)).numpy(), (a > 0) & (a < 1))
    np.testing.assert_array_equal((~(x > 0)).numpy(), ~(a > 0))


@pytest.mark.parametrize("cmp", ["eq", "ne", "lt", "le", "gt", "ge"])
@pytest.mark.parametrize("dt", [np.int32, np.int64, np.float32, np.float64, np.int8])
def test_comparisons(cmp, dt, rng):
    a = rng.integers(-3, 3, (5, 4)).astype(dt)
    b = rng.integers(-3, 3, (4,)).astype(dt)
    got = getattr(ember, cmp)(ember.tensor(a), ember.tensor(b))
    assert got.dtype is ember.bool
    np.testing.assert_array_equal(
        got.numpy(),
        getattr(
            np,
            {
                "eq": "equal",
                "ne": "not_equal",
                "lt": "less",
                "le": "less_equal",
                "gt": "greater",
                "ge": "greater_equal",
            }[cmp],
        )(a, b),
    )


def test_type_promotion():
    i = ember.tensor([1, 2])
    f = ember.tensor([1.0, 2.0])
    d = ember.tensor([1.0], dtype=ember.float64)
    assert (i + 1).dtype is ember.int64
    assert (i + 1.5).dtype is ember.float32
    assert (i / 2).dtype is ember.float32 and (i / 2).tolist() == [0.5, 1.0]
    assert (f + d).dtype is ember.float64
    assert (f + ember.tensor(1.0, dtype=ember.float64)).dtype is ember.float32  # 0-d is scalar
    assert (i.int() + i).dtype is ember.int64
    assert (ember.tensor([True]) + 1).dtype is ember.int64
    assert (f.half() + f.half()).dtype is ember.float16
    assert (f.half() + f.bfloat16()).dtype is ember.float32
    assert i.exp().dtype is ember.float32
    assert i.abs().dtype is ember.int64
    np.testing.assert_array_equal((i * 3 - 1).numpy(), [2, 5])
    assert ember.maximum(i, ember.tensor([2, 0])).tolist() == [2, 2]
    assert (i**2).tolist() == [1, 4]


def test_half_precision_compute_in_float32(rng):
    a = rng.standard_normal(100).astype(np.float32)
    h = ember.tensor(a).half()
    got = (h * 2 + 1).exp()
    assert got.dtype is ember.float16
    h16 = (a.astype(np.float16).astype(np.float32) * 2 + 1).astype(np.float16)
    want = np.exp(h16.astype(np.float32)).astype(np.float16)
    np.testing.assert_allclose(got.float().numpy(), want.astype(np.float32), rtol=2e-3)
    b = ember.tensor(a).bfloat16()
    assert (b * b).dtype is ember.bfloat16


def test_where_and_masked_fill(rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4,))
    c = a > 0
    got = ember.where(ember.tensor(c), ember.tensor(a), ember.tensor(b))
    np.testing.assert_array_equal(got.numpy(), np.where(c, a, b))
    got = ember.where(ember.tensor(c), ember.tensor(a), 0.0)
    np.testing.assert_array_equal(got.numpy(), np.where(c, a, 0))
    ta = ember.tensor(a, requires_grad=True)
    tb = ember.tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: ember.where(ember.tensor(c), x, y), (ta, tb))
    m = ember.tensor(c)
    np.testing.assert_array_equal(ember.tensor(a).masked_fill(m, -1).numpy(), np.where(c, -1, a))
    assert gradcheck(lambda x: x.masked_fill(m, 2.0), (ta,))


def test_inplace_fast_path_matches(rng, isa):
    a = rng.standard_normal(1001).astype(np.float32)
    b = rng.standard_normal(1001).astype(np.float32)
    x = ember.tensor(a)
    ptr = x.data_ptr()
    x.add_(ember.tensor(b))
    x.mul_(3.0)
    x.sub_(ember.tensor(b[:1]))
    assert x.data_ptr() == ptr
    np.testing.assert_allclose(x.numpy(), (a + b) * 3 - b[0], rtol=1e-6)
    x.zero_()
    assert not x.numpy().any()
    x.fill_(2.5)
    assert (x.numpy() == 2.5).all()


def test_nan_inf_special_values(isa):
    x = ember.tensor([np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0, -100.0, 1e-30])
    with np.errstate(all="ignore"):
        xs = x.numpy().astype(np.float64)
        for got, want in [
            (x.exp(), np.exp(xs)),
            (x.tanh(), np.tanh(xs)),
            (x.sigmoid(), 1 / (1 + np.exp(-xs))),
            (x.abs().log(), np.log(np.abs(xs))),
        ]:
            np.testing.assert_allclose(got.numpy(), want.astype(np.float32), rtol=2e-6, atol=1e-40)
    assert np.isnan(ember.maximum(x, 0.0)[0].item())
    assert ember.isnan(x).tolist() == [True] + [False] * 7
    assert ember.isinf(x).tolist() == [False, True, True] + [False] * 5
    assert ember.isfinite(x).tolist() == [False, False, False] + [True] * 5
