"""Elementwise kernels (ember._C.unary / unary_backward / binary / where) against
numpy float64 references, for every ISA, dtype and stride pattern."""

import math

import ember._C as _C
import numpy as np
import pytest

from reference import BACKWARD_OPS, UNARY_OPS, grad_ref, unary_ref

SIZES = [1, 7, 15, 16, 17, 31, 33, 1000, 100003]
EXACT_UNARY = {
    "neg",
    "abs",
    "relu",
    "clamp",
    "sqrt",
    "floor",
    "ceil",
    "trunc",
    "round",
}  # correctly rounded in float32
CLAMP = (-0.75, 1.5)
F32_TOL = dict(rtol=2e-6, atol=1e-6)
F64_TOL = dict(rtol=1e-12, atol=1e-14)
INT_DTYPES = [np.int8, np.int32, np.int64]
DTYPE_CODE = {
    np.dtype(np.bool_): 0,
    np.dtype(np.int8): 1,
    np.dtype(np.int32): 2,
    np.dtype(np.int64): 3,
    np.dtype(np.float16): 4,
    np.dtype(np.float32): 6,
    np.dtype(np.float64): 7,
}


def T(a):
    """Zero-copy TensorImpl view of a numpy array (any strides)."""
    return _C.TensorImpl.from_buffer(a)


def poison(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.full(shape, np.nan, dtype)
    if dtype.kind == "b":
        return np.ones(shape, dtype)  # results are checked against 0s and 1s
    return np.full(shape, 123, dtype)


def unary_input(op, rng, shape, dtype=np.float32):
    if op in ("log", "sqrt", "rsqrt"):
        x = np.exp(rng.uniform(-8.0, 8.0, shape))  # positive, many octaves
    elif op == "exp":
        x = rng.uniform(-30.0, 30.0, shape)
    elif op in ("log1p", "expm1"):
        # tiny to large magnitudes of both signs; log1p's negatives stay above -1
        x = np.exp(rng.uniform(-25.0, 4.0, shape)) * rng.choice([-1.0, 1.0], shape)
        if op == "log1p":
            x = np.maximum(x, -0.999)
    elif op in ("floor", "ceil", "trunc", "round"):
        # many exact halves and integers, plus values beyond 2**23 (already integral)
        x = rng.integers(-40, 40, shape) / 4.0 + rng.choice([0.0, 0.0, 1e-3, 1e7], shape)
    else:
        x = rng.normal(0.0, 3.0, shape)
    return x.astype(dtype)


def run_unary(op, x, out):
    lo, hi = CLAMP if op == "clamp" else (0.0, 0.0)
    _C.unary(op, T(x), T(out), lo, hi)
    return out


def check_unary(op, x, got):
    ref = unary_ref(op, x, *CLAMP)
    if got.dtype == np.float64:
        np.testing.assert_allclose(got, ref, **F64_TOL, equal_nan=True)
    elif op in EXACT_UNARY:
        np.testing.assert_array_equal(got, ref.astype(np.float32))
    else:
        np.testing.assert_allclose(got, ref, **F32_TOL, equal_nan=True)


# ------------------------------------------------------------------- unary
@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_f32_contiguous(op, isa, rng):
    for n in SIZES:
        x = unary_input(op, rng, n)
        got = run_unary(op, x, poison(n, np.float32))
        check_unary(op, x, got)


@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_f64(op, rng):
    for n in SIZES:
        x = unary_input(op, rng, n, np.float64)
        check_unary(op, x, run_unary(op, x, poison(n, np.float64)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_strided(op, dtype, isa, rng):
    base = unary_input(op, rng, (37, 45), dtype)
    # transposed input into a contiguous output
    x = base.T
    check_unary(op, x, run_unary(op, x, poison(x.shape, dtype)))
    # sliced input into a sliced output (both strided, different strides)
    x = base[1::2, ::3]
    out_base = poison((40, 60), dtype)
    out = out_base[:18, 1::4]
    run_unary(op, x, out)
    check_unary(op, x, out)
    assert np.isnan(out_base[:18, ::4]).all() and np.isnan(out_base[18:]).all()  # untouched
    # a view made by as_strided on the ember side
    flat = np.ascontiguousarray(base).reshape(-1)
    view = T(flat).as_strided([20, 33], [41, 1], 7)
    out = poison((20, 33), dtype)
    _C.unary(op, view, T(out), *(CLAMP if op == "clamp" else (0.0, 0.0)))
    check_unary(op, np.asarray(view), out)


@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_inplace(op, isa, rng):
    for n in (33, 1000):
        x = unary_input(op, rng, n)
        x0 = x.copy()
        run_unary(op, x, x)
        check_unary(op, x0, x)
    # in place on a strided view
    base = unary_input(op, rng, (16, 10))
    x0 = base.copy()
    run_unary(op, base[:, ::2], base[:, ::2])
    check_unary(op, x0[:, ::2], base[:, ::2])
    np.testing.assert_array_equal(base[:, 1::2], x0[:, 1::2])


SPECIAL = np.array(
    [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, -1e-30, 1e-40, -1e-40]
    + [1e30, -1e30, 3e38, -3e38, 88.72, 88.73, 89.0, -87.3, -100.0, -103.9, -110.0]
    + [9.0, -9.0, 20.0, -20.0, 0.625, -0.625, 0.6, 1e-4, -1e-4, 0.99, 1.01, -5.0],
    np.float32,
)


@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_special_values(op, isa):
    x = SPECIAL
    got = run_unary(op, x, poison(x.shape, np.float32))
    with np.errstate(all="ignore"):
        ref = unary_ref(op, x, *CLAMP).astype(np.float32)  # overflow to inf as float32 would
    if op in EXACT_UNARY:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, **F32_TOL, equal_nan=True)
    # NaN in, NaN out (sin/cos of inf are NaN too)
    assert np.isnan(got[2])


def test_unary_special_details(isa):
    def f(op, vals):
        x = np.array(vals, np.float32)
        return run_unary(op, x, poison(x.shape, np.float32))

    assert f("exp", [np.inf, -np.inf, 89.0, -104.0]).tolist() == [np.inf, 0.0, np.inf, 0.0]
    assert np.isnan(f("exp", [np.nan])[0])
    assert f("log", [0.0, -0.0, np.inf]).tolist() == [-np.inf, -np.inf, np.inf]
    assert np.isnan(f("log", [-1.0, -np.inf, np.nan])).all()
    assert f("tanh", [40.0, -40.0, np.inf, -np.inf]).tolist() == [1, -1, 1, -1]
    t = f("tanh", [1e-6, -3e-8])
    np.testing.assert_allclose(t, [1e-6, -3e-8], rtol=1e-7)  # no cancellation near 0
    s = f("sigmoid", [-100.0, 100.0, -np.inf, np.inf])
    # e^-100 is a float32 subnormal: compare with its float32 rounding
    np.testing.assert_array_equal(s, np.array([math.exp(-100), 1.0, 0.0, 1.0], np.float32))
    c = f("clamp", [np.nan, -5.0, 5.0])
    assert np.isnan(c[0]) and c[1] == CLAMP[0] and c[2] == CLAMP[1]
    assert np.isnan(f("relu", [np.nan])[0])


def test_clamp_one_sided(isa, rng):
    x = rng.normal(0, 3, 1000).astype(np.float32)
    for lo, hi in [(-np.inf, 0.5), (-0.5, np.inf), (-np.inf, np.inf), (2.0, 1.0)]:
        out = poison(x.shape, np.float32)
        _C.unary("clamp", T(x), T(out), lo, hi)
        np.testing.assert_array_equal(out, np.minimum(np.maximum(x, lo), hi).astype(np.float32))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_unary_integers(dtype, rng):
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, 1001, dtype=dtype, endpoint=True)
    x[:3] = [info.min, info.max, 0]
    for op, ref in [
        ("neg", np.negative(x)),  # numpy wraps the minimum, as we do
        ("abs", np.abs(x)),
        ("relu", np.maximum(x, 0)),
    ]:
        out = poison(x.shape, dtype)
        _C.unary(op, T(x), T(out))
        np.testing.assert_array_equal(out, ref)
    for lo, hi, rlo, rhi in [
        (-3.5, 7.2, -3, 7),
        (-np.inf, np.inf, info.min, info.max),
        (-1e30, 5.0, info.min, 5),
    ]:
        out = poison(x.shape, dtype)
        _C.unary("clamp", T(x), T(out), lo, hi)
        np.testing.assert_array_equal(out, np.clip(x, rlo, rhi))
    # strided
    x2 = x[:1000].reshape(20, 50).T
    out = poison(x2.shape, dtype)
    _C.unary("abs", T(x2), T(out))
    np.testing.assert_array_equal(out, np.abs(x2))


# --------------------------------------------------------- unary backward
@pytest.mark.parametrize("op", BACKWARD_OPS)
def test_unary_backward_f32(op, isa, rng):
    for n in SIZES:
        x = rng.normal(0.0, 3.0, n).astype(np.float32)
        if op in ("relu", "clamp") and n > 4:
            x[:4] = [0.0, -0.0, CLAMP[0], CLAMP[1]]  # boundaries
        y = unary_ref(op, x, *CLAMP).astype(np.float32)
        g = rng.normal(0.0, 1.0, n).astype(np.float32)
        gin = poison(n, np.float32)
        lo, hi = CLAMP if op == "clamp" else (0.0, 0.0)
        _C.unary_backward(op, T(x), T(y), T(g), T(gin), lo, hi)
        ref = grad_ref(op, x, g, *CLAMP)
        if op in ("relu", "clamp"):
            np.testing.assert_array_equal(gin, ref.astype(np.float32))
        else:
            np.testing.assert_allclose(gin, ref, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("op", BACKWARD_OPS)
def test_unary_backward_f64(op, rng):
    for n in (1, 17, 1000, 100003):
        x = rng.normal(0.0, 3.0, n)
        y = unary_ref(op, x, *CLAMP)
        g = rng.normal(0.0, 1.0, n)
        gin = poison(n, np.float64)
        lo, hi = CLAMP if op == "clamp" else (0.0, 0.0)
        _C.unary_backward(op, T(x), T(y), T(g), T(gin), lo, hi)
        # atol: the reference's 1 + tanh cancels for x << 0 (the kernel's form does not)
        np.testing.assert_allclose(gin, grad_ref(op, x, g, *CLAMP), rtol=1e-12, atol=1e-13)


def test_unary_backward_matches_finite_differences(rng):
    # Independent of the analytic formulas above: central differences in float64.
    x = rng.normal(0.0, 2.0, 200)
    x = x[np.abs(x) > 1e-3]  # keep relu's kink out of the stencil
    x = x[(np.abs(x - CLAMP[0]) > 1e-3) & (np.abs(x - CLAMP[1]) > 1e-3)]
    h = 1e-6
    for op in BACKWARD_OPS:
        fd = (unary_ref(op, x + h, *CLAMP) - unary_ref(op, x - h, *CLAMP)) / (2 * h)
        gin = poison(x.shape, np.float64)
        lo, hi = CLAMP if op == "clamp" else (0.0, 0.0)
        ones = np.ones_like(x)
        _C.unary_backward(op, T(x), T(unary_ref(op, x, *CLAMP)), T(ones), T(gin), lo, hi)
        np.testing.assert_allclose(gin, fd, rtol=1e-6, atol=1e-8, err_msg=op)


def test_unary_backward_inplace_grad(isa, rng):
    # grad_in may be grad_out (an autograd layer reuses the buffer)
    x = rng.normal(0, 2, 1000).astype(np.float32)
    g = rng.normal(0, 1, 1000).astype(np.float32)
    ref = grad_ref("silu", x, g)
    _C.unary_backward("silu", T(x), T(x), T(g), T(g))
    np.testing.assert_allclose(g, ref, rtol=2e-6, atol=2e-6)


# ------------------------------------------------------------------ binary
ARITH_EXACT = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
}
COMPARE = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}
LOGICAL = {
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}
BROADCASTS = [
    ((3, 1), (1, 4)),
    ((), (5, 7)),
    ((5, 7), ()),
    ((5, 1, 3), (4, 1)),
    ((2, 3, 40), (40,)),
    ((40,), (2, 3, 40)),
    ((6, 1), (6, 33)),
    ((129,), (1,)),
]


def run_binary(op, a, b, out_dtype=None):
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = poison(shape, out_dtype or a.dtype)
    _C.binary(op, T(a), T(b), T(out))
    return out


def binary_operands(op, rng, shape_a, shape_b, dtype):
    a = rng.normal(0, 3, shape_a)
    b = rng.normal(0, 3, shape_b)
    if op == "div":
        b = np.where(np.abs(b) < 0.1, 0.5, b)
    if op == "pow":
        a = np.abs(a) + 0.1
        b = rng.uniform(-3, 3, shape_b)
    return np.asarray(a, dtype), np.asarray(b, dtype)


def check_arith(op, a, b, got):
    if op == "pow":
        with np.errstate(all="ignore"):
            ref = np.power(a.astype(np.float64), b.astype(np.float64))
        tol = F64_TOL if got.dtype == np.float64 else F32_TOL
        np.testing.assert_allclose(got, ref, **tol)
    else:
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(got, ARITH_EXACT[op](a, b))


@pytest.mark.parametrize("op", [*ARITH_EXACT, "pow"])
def test_binary_f32_contiguous(op, isa, rng):
    for n in SIZES:
        a, b = binary_operands(op, rng, n, n, np.float32)
        check_arith(op, a, b, run_binary(op, a, b))
        # (n,) with (1,): the vectorized scalar-broadcast rows, both sides
        a, b = binary_operands(op, rng, n, 1, np.float32)
        check_arith(op, a, b, run_binary(op, a, b))
        b2, a2 = binary_operands(op, rng, 1, n, np.float32)[::-1]
        if op == "pow":
            a2, b2 = np.abs(a2) + 0.1, b2
        check_arith(op, a2, b2, run_binary(op, a2, b2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [*ARITH_EXACT, "pow"])
def test_binary_broadcast(op, dtype, isa, rng):
    for sa, sb in BROADCASTS:
        a, b = binary_operands(op, rng, sa, sb, dtype)
        check_arith(op, a, b, run_binary(op, a, b))


@pytest.mark.parametrize("op", [*ARITH_EXACT, "pow"])
def test_binary_strided(op, isa, rng):
    a, b = binary_operands(op, rng, (33, 17), (17, 33), np.float32)
    b = b.T  # transposed
    check_arith(op, a, b, run_binary(op, a, b))
    a2, b2 = a[::2, 1::3], b[::2, ::3]  # both sliced: (17, 6)
    out_base = poison((40, 40), np.float32)
    out = out_base[2:36:2, 5:17:2]
    _C.binary(op, T(a2), T(b2), T(out))
    check_arith(op, a2, b2, out)
    assert np.isnan(out_base[:2]).all() and np.isnan(out_base[:, :5]).all()
    # strided row against a broadcast scalar and a broadcast column
    c = b[:, :1].copy()
    check_arith(op, a[:, ::2], c, run_binary(op, a[:, ::2], c))
    check_arith(op, a[::3], b[0], run_binary(op, a[::3], b[0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_binary_inplace(dtype, isa, rng):
    a0 = (rng.normal(0, 3, (9, 70)) * (100 if dtype == np.int32 else 1)).astype(dtype)
    b0 = (rng.normal(0, 3, (9, 70)) * (100 if dtype == np.int32 else 1)).astype(dtype)
    for op in ("add", "sub", "mul", "maximum"):
        a, b = a0.copy(), b0.copy()
        _C.binary(op, T(a), T(b), T(a))  # a op= b
        np.testing.assert_array_equal(a, ARITH_EXACT[op](a0, b0))
        a, b = a0.copy(), b0.copy()
        _C.binary(op, T(a), T(b), T(b))  # out aliases b
        np.testing.assert_array_equal(b, ARITH_EXACT[op](a0, b0))
        a, row = a0.copy(), b0[0].copy()
        _C.binary(op, T(a), T(row), T(a))  # a op= broadcast row
        np.testing.assert_array_equal(a, ARITH_EXACT[op](a0, b0[0]))
        a = a0.copy()
        _C.binary(op, T(a[:, ::2]), T(b0[:, ::2]), T(a[:, ::2]))  # strided in place
        np.testing.assert_array_equal(a[:, ::2], ARITH_EXACT[op](a0[:, ::2], b0[:, ::2]))
        np.testing.assert_array_equal(a[:, 1::2], a0[:, 1::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_nan_inf(dtype, isa):
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 3e38], dtype)
    a, b = (x.ravel() for x in np.meshgrid(v, v))
    a = np.tile(a, 3)  # long enough for full vectors and a tail
    b = np.tile(b, 3)
    for op in ARITH_EXACT:
        got = run_binary(op, a, b)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(got, ARITH_EXACT[op](a, b), err_msg=op)
    # maximum / minimum propagate NaN from either side, including broadcast rows
    for op in ("maximum", "minimum"):
        got = run_binary(op, a, np.array([np.nan], dtype))
        assert np.isnan(got).all()
        got = run_binary(op, np.array(np.nan, dtype), b)
        assert np.isnan(got).all()


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_binary_integers(dtype, rng):
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (7, 300), dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, (7, 300), dtype=dtype, endpoint=True)
    for op in ("add", "sub", "mul", "maximum", "minimum"):  # wrapping like numpy
        np.testing.assert_array_equal(run_binary(op, a, b), ARITH_EXACT[op](a, b), err_msg=op)
        np.testing.assert_array_equal(
            run_binary(op, a, b[:1, ::-1].copy()), ARITH_EXACT[op](a, b[:1, ::-1])
        )
        np.testing.assert_array_equal(run_binary(op, a.T, b.T), ARITH_EXACT[op](a.T, b.T))
    base = rng.integers(-9, 10, 1000).astype(dtype)
    exp = rng.integers(0, 8, 1000).astype(dtype)
    exp[:3] = [0, 1, 0]
    base[2] = 0
    np.testing.assert_array_equal(run_binary("pow", base, exp), np.power(base, exp))
    np.testing.assert_array_equal(
        run_binary("pow", base, np.array(3, dtype)), np.power(base, dtype(3))
    )


def test_int_pow_negative_exponent_raises_before_writing():
    a = np.arange(10, dtype=np.int32)
    b = np.full(10, 2, np.int32)
    b[7] = -1
    out = poison(10, np.int32)
    with pytest.raises(ValueError, match=r"ember\.pow: .*negative"):
        _C.binary("pow", T(a), T(b), T(out))
    assert (out == 123).all()


@pytest.mark.parametrize("op", list(COMPARE))
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int32, np.int64, np.float32, np.float64])
def test_comparisons(op, dtype, isa, rng):
    if dtype == np.bool_:
        a = rng.integers(0, 2, (5, 67)).astype(bool)
        b = rng.integers(0, 2, (5, 67)).astype(bool)
    else:
        a = rng.integers(-3, 4, (5, 67)).astype(dtype)  # small range: many ties
        b = rng.integers(-3, 4, (5, 67)).astype(dtype)
        if np.dtype(dtype).kind == "f":
            a[0, :4] = [np.nan, np.inf, -np.inf, np.nan]
            b[0, :4] = [np.nan, np.inf, np.nan, 1.0]
    fn = COMPARE[op]
    np.testing.assert_array_equal(run_binary(op, a, b, bool), fn(a, b))
    np.testing.assert_array_equal(run_binary(op, a, b[2], bool), fn(a, b[2]))
    np.testing.assert_array_equal(run_binary(op, a[:, :1], b, bool), fn(a[:, :1], b))
    np.testing.assert_array_equal(run_binary(op, a.T, b.T, bool), fn(a.T, b.T))
    s = np.array(b[1, 1])
    np.testing.assert_array_equal(run_binary(op, a, s, bool), fn(a, s))


@pytest.mark.parametrize("op", list(LOGICAL))
def test_logical(op, rng):
    a = rng.integers(0, 2, (4, 1003)).astype(bool)
    b = rng.integers(0, 2, (4, 1003)).astype(bool)
    fn = LOGICAL[op]
    np.testing.assert_array_equal(run_binary(op, a, b), fn(a, b))
    np.testing.assert_array_equal(run_binary(op, a, b[:, :1]), fn(a, b[:, :1]))
    np.testing.assert_array_equal(run_binary(op, a.T, b.T), fn(a.T, b.T))
    np.testing.assert_array_equal(run_binary(op, a, np.array(True)), fn(a, True))


# ------------------------------------------------------------------- where
@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int8, np.float16, np.int32, np.float32, np.int64, np.float64]
)
def test_where(dtype, rng):
    for sc, sa, sb in [
        ((1000,), (1000,), (1000,)),
        ((3, 1), (1, 4), ()),
        ((5, 1, 3), (4, 1), (3,)),
        ((), (6, 7), (6, 7)),
        ((2, 33), (1,), (2, 1)),
    ]:
        cond = rng.integers(0, 2, sc).astype(bool)
        a = (rng.normal(0, 50, sa)).astype(dtype)
        b = (rng.normal(0, 50, sb)).astype(dtype)
        shape = np.broadcast_shapes(sc, sa, sb)
        out = poison(shape, dtype)
        _C.where(T(cond), T(a), T(b), T(out))
        np.testing.assert_array_equal(out, np.where(cond, a, b))
    # strided operands and output
    cond = rng.integers(0, 2, (20, 30)).astype(bool)
    a = rng.normal(0, 50, (30, 20)).astype(dtype)
    b = rng.normal(0, 50, (20, 60)).astype(dtype)
    out = poison((20, 60), dtype)
    _C.where(T(cond), T(a.T), T(b[:, ::2]), T(out[:, 1::2]))
    np.testing.assert_array_equal(out[:, 1::2], np.where(cond, a.T, b[:, ::2]))


def test_where_inplace(rng):
    cond = rng.integers(0, 2, 500).astype(bool)
    a = rng.normal(0, 1, 500).astype(np.float32)
    b = rng.normal(0, 1, 500).astype(np.float32)
    ref = np.where(cond, a, b)
    _C.where(T(cond), T(a), T(b), T(a))
    np.testing.assert_array_equal(a, ref)


# ------------------------------------------------------------ error paths
def test_errors_unary():
    x = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"ember\.exp: .*\(5,\).*\(6,\)"):
        _C.unary("exp", T(x), T(np.ones(6, np.float32)))
    with pytest.raises(TypeError, match=r"ember\.exp: .*float32.*float64"):
        _C.unary("exp", T(x), T(np.ones(5, np.float64)))
    with pytest.raises(ValueError, match=r"unknown op 'cbrt'"):
        _C.unary("cbrt", T(x), T(x))
    xi = np.ones(5, np.int64)
    with pytest.raises(TypeError, match=r"ember\.exp: not supported for dtype int64"):
        _C.unary("exp", T(xi), T(xi.copy()))
    xb = np.ones(5, bool)
    with pytest.raises(TypeError, match=r"ember\.neg: not supported for dtype bool"):
        _C.unary("neg", T(xb), T(xb.copy()))
    # a broadcast (stride 0) output would have several writers per element
    out = T(np.ones(1, np.float32)).as_strided([5], [0], 0)
    with pytest.raises(ValueError, match=r"ember\.exp: .*broadcast"):
        _C.unary("exp", T(x), out)


def test_errors_unary_backward():
    x = np.ones(8, np.float32)
    with pytest.raises(ValueError, match=r"'exp' has no fused backward"):
        _C.unary_backward("exp", T(x), T(x), T(x), T(x.copy()))
    with pytest.raises(ValueError, match=r"unknown op"):
        _C.unary_backward("nope", T(x), T(x), T(x), T(x.copy()))
    with pytest.raises(ValueError, match=r"ember\.tanh_backward: .*contiguous"):
        m = np.ones((4, 4), np.float32)
        _C.unary_backward("tanh", T(m.T), T(m), T(m), T(m.copy()))
    with pytest.raises(ValueError, match=r"ember\.silu_backward: grad_out has shape \(7,\)"):
        _C.unary_backward("silu", T(x), T(x), T(x[:7]), T(x.copy()))
    with pytest.raises(TypeError, match=r"ember\.silu_backward"):
        _C.unary_backward("silu", T(x), T(x), T(x.astype(np.float64)), T(x.copy()))
    xi = np.ones(8, np.int32)
    with pytest.raises(TypeError, match=r"float32 or float64"):
        _C.unary_backward("relu", T(xi), T(xi), T(xi), T(xi.copy()))


def test_errors_binary():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"ember\.add: shapes \(3, 4\) and \(5,\)"):
        _C.binary("add", T(a), T(np.ones(5, np.float32)), T(a.copy()))
    with pytest.raises(ValueError, match=r"ember\.mul: .*output shape \(3,\)"):
        _C.binary("mul", T(a), T(a), T(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match=r"ember\.add: dtypes differ \(float32 and float64\)"):
        _C.binary("add", T(a), T(a.astype(np.float64)), T(a.copy()))
    with pytest.raises(TypeError, match=r"ember\.add: output dtype float64"):
        _C.binary("add", T(a), T(a), T(a.astype(np.float64)))
    ai = np.ones(4, np.int32)
    with pytest.raises(TypeError, match=r"ember\.div: .*int32"):
        _C.binary("div", T(ai), T(ai), T(ai.copy()))
    with pytest.raises(ValueError, match=r"unknown op 'mod'"):
        _C.binary("mod", T(a), T(a), T(a.copy()))
    with pytest.raises(TypeError, match=r"ember\.lt: expected output of dtype bool"):
        _C.binary("lt", T(a), T(a), T(a.copy()))
    with pytest.raises(TypeError, match=r"ember\.logical_and: .*float32"):
        _C.binary("logical_and", T(a), T(a), T(np.ones((3, 4), bool)))
    ab = np.ones(4, bool)
    with pytest.raises(TypeError, match=r"ember\.add: not supported for dtype bool"):
        _C.binary("add", T(ab), T(ab), T(ab.copy()))
    ah = np.ones(4, np.float16)
    with pytest.raises(TypeError, match=r"ember\.add: not supported for dtype float16"):
        _C.binary("add", T(ah), T(ah), T(ah.copy()))


def test_errors_where():
    a = np.ones((3, 4), np.float32)
    c = np.ones((3, 4), bool)
    with pytest.raises(TypeError, match=r"ember\.where: expected condition of dtype bool"):
        _C.where(T(a), T(a), T(a), T(a.copy()))
    with pytest.raises(TypeError, match=r"ember\.where: dtypes differ"):
        _C.where(T(c), T(a), T(a.astype(np.float64)), T(a.copy()))
    with pytest.raises(ValueError, match=r"ember\.where: .*\(2, 4\)"):
        _C.where(T(c), T(a), T(np.ones((2, 4), np.float32)), T(a.copy()))


# ------------------------------------------------------------ determinism
def test_threads_bitwise_identical(isa, rng):
    before = _C.get_num_threads()
    x = rng.normal(0, 3, 1 << 19).astype(np.float32)
    y = rng.normal(0, 3, ((1 << 19) // 512, 512)).astype(np.float32)
    g = rng.normal(0, 1, 1 << 19).astype(np.float32)
    results = []
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            r = [run_unary(op, x, poison(x.shape, np.float32)) for op in ("exp", "gelu", "tanh")]
            r.append(run_binary("mul", y, y[0].copy()))
            r.append(run_binary("maximum", x, g))
            gin = poison(x.shape, np.float32)
            _C.unary_backward("gelu", T(x), T(x), T(g), T(gin))
            r.append(gin)
            results.append(r)
    finally:
        _C.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------- edge-case shapes
def test_empty_and_zero_dim(isa, rng):
    e = np.ones((0, 5), np.float32)
    run_unary("exp", e, np.ones((0, 5), np.float32))
    assert run_binary("add", e, np.ones(5, np.float32)).shape == (0, 5)
    gin = np.ones(0, np.float32)
    _C.unary_backward("gelu", T(gin), T(gin), T(gin), T(gin))
    _C.where(T(np.ones((0, 5), bool)), T(e), T(e), T(np.ones((0, 5), np.float32)))
    x = np.array(0.75, np.float32)  # 0-d
    for op in UNARY_OPS:
        check_unary(op, x, run_unary(op, x, poison((), np.float32)))
    out = run_binary("sub", x, np.array(2.0, np.float32))
    assert out.shape == () and out == np.float32(-1.25)
