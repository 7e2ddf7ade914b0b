"""Reductions, arg-reductions and softmax kernels against numpy float64 references."""

import ember._C as _C
import numpy as np
import pytest

OPS = ["sum", "mean", "prod", "max", "min"]
SIZES = [1, 3, 7, 16, 17, 33, 1000, 100003]
# Every size in every position of (outer, r, inner), plus multi-block cases on both paths
# (inner == 1: blocks of 16384 along r; inner > 1: blocks of 512 rows).
SHAPES = sorted(
    {(s, 3, 2) for s in SIZES}
    | {(2, s, 3) for s in SIZES}
    | {(3, 2, s) for s in SIZES}
    | {(1, 100003, 1), (3, 40000, 1), (5, 33, 1), (2, 1000, 1), (1, 5000, 17), (2, 1025, 65)}
)


def impl(a):
    return _C.TensorImpl.from_buffer(a)


def reduce(op, x3, dtype=None):
    o, r, i = x3.shape
    out = np.full((o, i), np.nan if x3.dtype.kind == "f" else 77, dtype=dtype or x3.dtype)
    _C.reduce(op, impl(np.ascontiguousarray(x3)), impl(out), o, r, i)
    return out


def reference(op, x3):
    x = x3.astype(np.float64)
    return {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min}[op](
        x, axis=1
    )


def values_for(op, rng, shape, dtype):
    if op == "prod":  # log-normal around 1 so long products stay in range
        return np.exp(rng.normal(0.0, 0.01, size=shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check_close(op, out, x3, dtype):
    ref = reference(op, x3)
    if op in ("max", "min"):
        assert np.array_equal(out, ref.astype(dtype))
        return
    if op == "prod":
        rtol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, ref, rtol=rtol)
        return
    # Sums: error relative to the sum of magnitudes (cancellation-proof).
    scale = np.sum(np.abs(x3.astype(np.float64)), axis=1)
    if op == "mean" and x3.shape[1] > 0:
        scale = scale / x3.shape[1]
    tol = (1e-5 if dtype == np.float32 else 1e-13) * scale + 1e-30
    assert np.all(np.abs(out - ref) <= tol), np.max(np.abs(out - ref) / (scale + 1e-30))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", OPS)
def test_reduce_float32(isa, rng, op, shape):
    x = values_for(op, rng, shape, np.float32)
    check_close(op, reduce(op, x), x, np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", OPS)
def test_reduce_float64(rng, op, shape):
    x = values_for(op, rng, shape, np.float64)
    check_close(op, reduce(op, x), x, np.float64)


@pytest.mark.parametrize(
    "shape", [(2, 3, 1), (3, 1000, 1), (1, 100003, 1), (2, 33, 17), (2, 1000, 7)]
)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
def test_reduce_int(rng, op, shape, dtype):
    lo, hi = (-3, 4) if op == "prod" else (-(10**6), 10**6)
    x = rng.integers(lo, hi, size=shape).astype(dtype)
    out = reduce(op, x)
    # numpy in the same integer dtype wraps the same way (mod 2^bits).
    if op in ("sum", "prod"):
        ref = getattr(np, op)(x, axis=1, dtype=dtype)
    else:
        ref = getattr(np, op)(x, axis=1)
    assert out.dtype == dtype
    assert np.array_equal(out, ref)


def test_reduce_int32_sum_wraps():
    x = np.full((1, 3, 1), 2**30, np.int32)
    assert reduce("sum", x)[0, 0] == np.int32(-(2**30))


@pytest.mark.parametrize("shape", [(4, 7, 1), (3, 1000, 5), (2, 100003, 1), (1, 600, 33)])
def test_reduce_bool_any_all(rng, shape):
    x = rng.random(shape) < 0.002
    x[0] = False
    if shape[0] > 1:
        x[1] = True
    assert np.array_equal(reduce("max", x), np.any(x, axis=1))
    assert np.array_equal(reduce("min", x), np.all(x, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 40000, 1), (4, 1000, 3), (3, 17, 33)])
def test_reduce_nan_propagates(isa, rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    x[0, shape[1] // 2, 0] = np.nan  # middle of the axis
    x[1, shape[1] - 1, -1] = np.nan  # last element of a row / column tail
    x[2, 0, 0] = np.nan  # first element
    for op in OPS:
        out = reduce(op, x)
        ref = reference(op, x)
        assert np.array_equal(np.isnan(out), np.isnan(ref)), op
        assert np.isnan(out[0, 0]) and np.isnan(out[1, -1]) and np.isnan(out[2, 0])


def test_reduce_infinities(isa):
    x = np.array([[[1.0], [np.inf], [-np.inf], [2.0]]], np.float32)
    assert reduce("max", x)[0, 0] == np.inf
    assert reduce("min", x)[0, 0] == -np.inf
    assert np.isnan(reduce("sum", x)[0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_reduce_empty_axis(dtype):
    x = np.empty((3, 0, 2), dtype)
    assert np.all(reduce("sum", x) == 0)
    assert np.all(reduce("prod", x) == 1)
    if dtype != np.int64:
        assert np.all(np.isnan(reduce("mean", x)))
    for op in ("max", "min"):
        out = np.full((3, 2), 5, dtype)
        with pytest.raises(
            ValueError, match=rf"ember\.{op}: cannot reduce over an empty dimension"
        ):
            _C.reduce(op, impl(x), impl(out), 3, 0, 2)
        assert np.all(out == 5)


@pytest.mark.parametrize("outer,r,inner", [(0, 5, 3), (4, 5, 0), (0, 1, 0)])
def test_reduce_empty_output_writes_nothing(outer, r, inner):
    # No output element: nothing written, even for max/min whose empty reduction is an error.
    # The empty outputs are views at the start of poisoned buffers, which must stay poisoned.
    x = np.empty((outer, r, inner), np.float32)
    values = np.full((max(outer, 1), max(inner, 1)), np.nan, np.float32)
    indices = np.full(values.shape, -5, np.int64)
    empty = (slice(0, outer), slice(0, inner))
    for op in OPS:
        _C.reduce(op, impl(x), impl(values[empty]), outer, r, inner)
    for op in ("max", "min"):
        _C.reduce_arg(op, impl(x), impl(values[empty]), impl(indices[empty]), outer, r, inner)
    assert np.all(np.isnan(values)) and np.all(indices == -5)


def test_reduce_errors():
    x = np.ones((2, 3, 4), np.float32)
    out = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"ember\.reduce: unknown op 'median'"):
        _C.reduce("median", impl(x), impl(out), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.sum: dtypes differ"):
        _C.reduce("sum", impl(x), impl(out.astype(np.float64)), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.mean: unsupported dtype int32"):
        xi = x.astype(np.int32)
        _C.reduce("mean", impl(xi), impl(out.astype(np.int32)), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.sum: unsupported dtype bool"):
        _C.reduce("sum", impl(x.astype(bool)), impl(out.astype(bool)), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.max: unsupported dtype float16"):
        _C.reduce("max", impl(x.astype(np.float16)), impl(out.astype(np.float16)), 2, 3, 4)
    with pytest.raises(ValueError, match=r"does not match \(outer, r, inner\) = \(2, 4, 4\)"):
        _C.reduce("sum", impl(x), impl(out), 2, 4, 4)
    with pytest.raises(ValueError, match=r"output of shape \(2, 3\) must have"):
        _C.reduce("sum", impl(x), impl(np.ones((2, 3), np.float32)), 2, 3, 4)
    with pytest.raises(ValueError, match=r"negative sizes"):
        _C.reduce("sum", impl(x), impl(out), -2, -3, 4)
    with pytest.raises(ValueError, match=r"must be contiguous"):
        _C.reduce("sum", impl(np.ones((4, 3, 2), np.float32).T), impl(out), 2, 3, 4)
    assert np.all(out == 1)


def test_reduce_deterministic_threads(rng):
    big = rng.standard_normal(3_000_001).astype(np.float32) + 0.1
    cols = rng.standard_normal((1, 200_001, 10)).astype(np.float32)
    results = []
    previous = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            results.append(
                [reduce("sum", big.reshape(1, -1, 1)), reduce("mean", cols), reduce("sum", cols)]
            )
    finally:
        _C.set_num_threads(previous)
    for a, b in zip(results[0], results[1], strict=True):
        assert np.array_equal(a, b)
    ref = np.sum(big.astype(np.float64))
    assert abs(results[0][0][0, 0] - ref) <= 1e-5 * np.sum(np.abs(big.astype(np.float64)))


def test_reduce_float32_sum_accuracy_1e7(rng):
    x = rng.random(10_000_000).astype(np.float32)
    out = reduce("sum", x.reshape(1, -1, 1))
    np.testing.assert_allclose(out[0, 0], np.sum(x.astype(np.float64)), rtol=1e-5)


# ---------------------------------------------------------------- arg-reductions


def run_arg(op, x3):
    o, r, i = x3.shape
    values = np.full((o, i), 99, x3.dtype)
    indices = np.full((o, i), -5, np.int64)
    _C.reduce_arg(op, impl(x3), impl(values), impl(indices), o, r, i)
    return values, indices


ARG_SHAPES = [
    (1, 1, 1),
    (3, 7, 1),
    (2, 17, 33),
    (1, 100003, 1),
    (2, 1000, 3),
    (3, 2, 1000),
    (1, 40000, 2),
]


@pytest.mark.parametrize("shape", ARG_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduce_arg_ties(rng, op, shape, dtype):
    # Few distinct values: lots of ties, the first occurrence must win.
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    values, indices = run_arg(op, x)
    ref_idx = (np.argmax if op == "max" else np.argmin)(x, axis=1)
    assert np.array_equal(indices, ref_idx)
    assert np.array_equal(values, np.take_along_axis(x, ref_idx[:, None, :], axis=1)[:, 0, :])


@pytest.mark.parametrize("shape", ARG_SHAPES)
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduce_arg_random_float(rng, op, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    values, indices = run_arg(op, x)
    ref_idx = (np.argmax if op == "max" else np.argmin)(x, axis=1)
    assert np.array_equal(indices, ref_idx)
    assert np.array_equal(values, (np.max if op == "max" else np.min)(x, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduce_arg_nan_first_wins(rng, op, dtype):
    for shape in [(3, 40000, 1), (3, 1500, 4)]:
        x = rng.standard_normal(shape).astype(dtype)
        x[0, 20000 % shape[1], 0] = np.nan
        x[0, 30000 % shape[1], 0] = np.nan  # a later NaN in a later block
        x[1, -1, -1] = np.nan
        x[2, 0, 0] = np.inf if op == "max" else -np.inf
        x[2, 5, 0] = np.nan
        values, indices = run_arg(op, x)
        ref_idx = (np.argmax if op == "max" else np.argmin)(x, axis=1)  # numpy: first NaN
        assert np.array_equal(indices, ref_idx)
        assert indices[0, 0] == min(20000 % shape[1], 30000 % shape[1])
        assert np.isnan(values[0, 0]) and np.isnan(values[1, -1]) and np.isnan(values[2, 0])


def test_reduce_arg_errors():
    x = np.ones((2, 3, 4), np.float32)
    v = np.ones((2, 4), np.float32)
    i = np.ones((2, 4), np.int64)
    with pytest.raises(ValueError, match=r"ember\.reduce_arg: unknown op 'sum'"):
        _C.reduce_arg("sum", impl(x), impl(v), impl(i), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.argmax: expected indices of dtype int64"):
        _C.reduce_arg("max", impl(x), impl(v), impl(i.astype(np.int32)), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.argmin: dtypes differ"):
        _C.reduce_arg("min", impl(x), impl(v.astype(np.float64)), impl(i), 2, 3, 4)
    with pytest.raises(TypeError, match=r"ember\.argmax: unsupported dtype bool"):
        _C.reduce_arg("max", impl(x.astype(bool)), impl(v.astype(bool)), impl(i), 2, 3, 4)
    with pytest.raises(ValueError, match=r"ember\.argmax: cannot reduce over an empty dimension"):
        e = np.ones((2, 0, 4), np.float32)
        _C.reduce_arg("max", impl(e), impl(v), impl(i), 2, 0, 4)
    with pytest.raises(ValueError, match=r"ember\.argmax: indices of shape \(3,\)"):
        _C.reduce_arg("max", impl(x), impl(v), impl(np.ones(3, np.int64)), 2, 3, 4)
    assert np.all(i == 1) and np.all(v == 1)


# ---------------------------------------------------------------- softmax


def softmax_ref(x, log):
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        e = np.exp(x - m)
        s = np.sum(e, axis=-1, keepdims=True)
        return (x - m) - np.log(s) if log else e / s


def run_softmax(x, log):
    y = np.full_like(x, np.nan)
    _C.softmax(impl(x), impl(y), log)
    return y


def check_softmax(y, x, log, dtype):
    ref = softmax_ref(x, log)
    assert np.array_equal(np.isnan(y), np.isnan(ref))
    assert np.array_equal(y[np.isinf(ref)], ref[np.isinf(ref)])
    ok = np.isfinite(ref)
    y, ref = y[ok].astype(np.float64), ref[ok]
    if dtype == np.float64:
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-300)
    elif log:
        assert np.all(np.abs(y - ref) <= 2e-6 * (1 + np.abs(ref)))
    else:
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-36)


SOFTMAX_SHAPES = [(1,), (7,), (3, 17), (2, 3, 33), (5, 1000), (2, 100003), (64, 16)]


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_float32(isa, rng, shape, log):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    check_softmax(run_softmax(x, log), x, log, np.float32)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_float64(rng, shape, log):
    x = rng.standard_normal(shape) * 5
    check_softmax(run_softmax(x, log), x, log, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_large_and_infinite(isa, rng, dtype, log):
    x = (rng.uniform(-1000, 1000, size=(6, 37))).astype(dtype)
    x[1, ::3] = -np.inf  # some -inf entries: probability 0
    x[2, :] = -np.inf  # all -inf: NaN row, like PyTorch
    x[3, 5] = np.nan  # NaN row
    x[4, :] = 1000.0  # uniform at large magnitude
    y = run_softmax(x, log)
    check_softmax(y, x, log, dtype)
    assert np.all(np.isnan(y[2])) and np.all(np.isnan(y[3]))
    if not log:
        assert np.all(y[1, ::3] == 0)
        np.testing.assert_allclose(y[4], 1 / 37, rtol=1e-6)
        np.testing.assert_allclose(np.sum(y[[0, 1, 4, 5]], axis=-1), 1, rtol=1e-5)
    else:
        assert np.all(y[1, ::3] == -np.inf)


@pytest.mark.parametrize("shape", [(3, 0), (0, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_empty_writes_nothing(rng, dtype, shape):
    # Empty rows or no rows: the outputs (empty views at the start of poisoned buffers) get no
    # write, and the inputs (random, around the empty views) are not touched either.
    full = (max(shape[0], 1), max(shape[1], 1) + 2)
    empty = (slice(0, shape[0]), slice(0, shape[1]))
    x = rng.standard_normal(full).astype(dtype)
    g = rng.standard_normal(full).astype(dtype)
    x_before, g_before = x.copy(), g.copy()
    for log in (False, True):
        y = np.full(full, np.nan, dtype)
        _C.softmax(impl(x[empty]), impl(y[empty]), log)
        _C.softmax_backward(impl(x[empty]), impl(g[empty]), impl(y[empty]), log)
        assert np.all(np.isnan(y))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(g, g_before)


def softmax_backward_ref(y, g, log):
    y = y.astype(np.float64)
    g = g.astype(np.float64)
    if log:
        return g - np.exp(y) * np.sum(g, axis=-1, keepdims=True)
    return y * (g - np.sum(g * y, axis=-1, keepdims=True))


def run_backward(y, g, log):
    gi = np.full_like(y, np.nan)
    _C.softmax_backward(impl(y), impl(g), impl(gi), log)
    return gi


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_backward_float32(isa, rng, shape, log):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = run_softmax(x, log)
    g = rng.standard_normal(shape).astype(np.float32)
    gi = run_backward(y, g, log)
    ref = softmax_backward_ref(y, g, log)
    n = shape[-1]
    np.testing.assert_allclose(gi, ref, rtol=1e-5, atol=1e-6 * np.sqrt(n))


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_backward_float64(rng, shape, log):
    x = rng.standard_normal(shape) * 3
    y = run_softmax(x, log)
    g = rng.standard_normal(shape)
    np.testing.assert_allclose(
        run_backward(y, g, log), softmax_backward_ref(y, g, log), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_finite_differences(rng, log):
    x = rng.standard_normal((2, 5))
    g = rng.standard_normal((2, 5))
    grad = run_backward(run_softmax(x, log), g, log)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric[idx] = np.sum(g * (run_softmax(xp, log) - run_softmax(xm, log))) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_softmax_deterministic_threads(rng):
    x = rng.standard_normal((3000, 129)).astype(np.float32)
    g = rng.standard_normal((3000, 129)).astype(np.float32)
    outs = []
    previous = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            y = run_softmax(x, False)
            outs.append((y, run_softmax(x, True), run_backward(y, g, False)))
    finally:
        _C.set_num_threads(previous)
    for a, b in zip(outs[0], outs[1], strict=True):
        assert np.array_equal(a, b)


def test_softmax_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"ember\.softmax: expected float32 or float64, got int32"):
        _C.softmax(impl(x.astype(np.int32)), impl(x.astype(np.int32)), False)
    with pytest.raises(TypeError, match=r"ember\.log_softmax: dtypes differ"):
        _C.softmax(impl(x), impl(x.astype(np.float64)), True)
    with pytest.raises(ValueError, match=r"ember\.softmax: shapes \(2, 3\) and \(3, 2\) differ"):
        _C.softmax(impl(x), impl(np.ones((3, 2), np.float32)), False)
    with pytest.raises(ValueError, match=r"ember\.softmax: input of shape \(2, 3\) must be contig"):
        _C.softmax(impl(np.ones((3, 2), np.float32).T), impl(x), False)
    with pytest.raises(ValueError, match=r"ember\.softmax_backward: shapes"):
        _C.softmax_backward(impl(x), impl(x), impl(np.ones((2, 4), np.float32)), False)
    with pytest.raises(TypeError, match=r"ember\.log_softmax_backward: dtypes differ"):
        _C.softmax_backward(impl(x), impl(x.astype(np.float64)), impl(x), True)
