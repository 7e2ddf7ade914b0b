"""floor / ceil / trunc / round and log1p / expm1 / erf: exact rounding rules (halves to
even, signed zeros, decimals), float32 accuracy in ulps against math's float64 functions,
integer inputs, gradients and the in-place forms."""

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

ROUNDING = ["floor", "ceil", "trunc", "round"]
HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.4, 0.4, -0.0, 0.0, 8388609.0])


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the float32 spacing at want."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rounding_rules(dtype, isa):
    x = ember.from_numpy(HALVES.astype(dtype))
    for op, ref in [("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc)]:
        got = getattr(ember, op)(x).numpy()
        np.testing.assert_array_equal(got, ref(HALVES.astype(dtype)))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(ref(HALVES.astype(dtype))))
    got = ember.round(x).numpy()
    assert got[:7].tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0]  # halves to even
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.round(HALVES.astype(dtype))))
    for op in ROUNDING:  # -0 stays -0 (ceil(-0.4) is -0 too)
        assert np.signbit(getattr(ember, op)(ember.tensor([-0.0], dtype=x.dtype)).numpy()[0])
        v = getattr(ember, op)(ember.tensor([np.inf, -np.inf, np.nan], dtype=x.dtype)).numpy()
        assert v[0] == np.inf and v[1] == -np.inf and np.isnan(v[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_decimals(dtype, isa, rng):
    x = (rng.standard_normal(1001) * 1000).astype(dtype)
    for d in (2, 1, -1, -2):
        s = dtype(10.0 ** abs(d))
        want = np.rint(x * s) / s if d > 0 else np.rint(x / s) * s
        np.testing.assert_array_equal(ember.from_numpy(x).round(decimals=d).numpy(), want)
    np.testing.assert_array_equal(
        ember.round(ember.tensor([1.25, 1.35, 1250.0]), decimals=1).numpy()[0], np.float32(1.2)
    )  # 12.5 -> 12 (fmt: skip)


@pytest.mark.parametrize("op", ["log1p", "expm1", "erf"])
def test_float32_ulps(op, isa, rng):
    # dense over the interesting range plus tiny values, both signs
    x = np.concatenate(
        [
            np.linspace(-6, 6, 20001),
            np.exp(rng.uniform(-40, 0, 5000)) * rng.choice([-1, 1], 5000),
            rng.uniform(-80, 80, 5000),
        ]
    ).astype(np.float32)
    if op == "log1p":
        x = x[x > -1]
    want = np.vectorize(getattr(math, op), otypes=[np.float64])(x.astype(np.float64))
    got = getattr(ember, op)(ember.from_numpy(x)).numpy()
    finite = np.isfinite(want) & (np.abs(want) < 3e38)
    assert np.isfinite(got[finite]).all()
    worst = _ulps(got[finite], want[finite]).max()
    assert worst <= {"log1p": 4, "expm1": 4, "erf": 1}[op], worst


def test_special_values(isa):
    inf, nan = math.inf, math.nan
    f = ember.tensor([inf, -inf, nan, -0.0, 0.0, -1.0, 100.0, -100.0, 1e-30])
    log1p = ember.log1p(f).numpy()
    assert log1p[0] == inf and np.isnan(log1p[1]) and np.isnan(log1p[2])
    assert np.signbit(log1p[3]) and log1p[4] == 0 and log1p[5] == -inf
    assert log1p[8] == np.float32(1e-30)
    expm1 = ember.expm1(f).numpy()
    assert expm1[0] == inf and expm1[1] == -1 and np.isnan(expm1[2]) and np.signbit(expm1[3])
    assert expm1[6] == inf and expm1[7] == -1 and expm1[8] == np.float32(1e-30)
    erf = ember.erf(f).numpy()
    assert erf[0] == 1 and erf[1] == -1 and np.isnan(erf[2]) and np.signbit(erf[3])
    assert erf[6] == 1 and erf[7] == -1


@pytest.mark.parametrize("dtype", [ember.int8, ember.int32, ember.int64])
def test_rounding_integers_are_copies(dtype):
    x = ember.tensor([-3, 0, 7], dtype=dtype)
    for op in ROUNDING:
        y = getattr(ember, op)(x)
        assert y.dtype is dtype and y.tolist() == [-3, 0, 7]
        assert y.data_ptr() != x.data_ptr()
    assert ember.log1p(ember.tensor([0, 1])).dtype is ember.float32  # int -> float
    with pytest.raises(TypeError, match="decimals"):
        ember.round(x, decimals=1)
    with pytest.raises(TypeError, match="bool"):
        ember.floor(ember.tensor([True]))
    with pytest.raises(TypeError, match="decimals must be an int"):
        ember.round(ember.tensor([1.5]), decimals=1.5)


def test_gradients(rng):
    x = ember.tensor(rng.standard_normal((4, 5)) * 3, requires_grad=True)
    for op in ROUNDING:
        x.grad = None
        getattr(ember, op)(x).sum().backward()
        assert x.grad.tolist() == np.zeros((4, 5)).tolist()
    xp = ember.tensor(np.abs(rng.standard_normal(12)) - 0.5, requires_grad=True)
    for op in ("log1p", "expm1", "erf"):
        assert gradcheck(getattr(ember, op), (xp,))
    x.grad = None
    ember.erf(x).sum().backward()
    want = 2 / math.sqrt(math.pi) * np.exp(-(x.detach().numpy() ** 2))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("op", [*ROUNDING, "log1p", "expm1", "erf"])
def test_inplace(op, rng):
    x = np.abs(rng.standard_normal(10)) * 3
    t = ember.tensor(x)
    assert getattr(t, op + "_")() is t
    np.testing.assert_array_equal(t.numpy(), getattr(ember, op)(ember.tensor(x)).numpy())
    a = ember.tensor(x, requires_grad=True)
    b = a * 1.0
    getattr(b, op + "_")()
    b.sum().backward()
    assert a.grad is not None
