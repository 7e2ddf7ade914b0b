"""ember._C.gemm / ember._C.matmul against numpy float64 references.

Covers awkward sizes (every size of SIZES appears as M, N and K somewhere), the four
transpose cases, sliced and batch-broadcast views, alpha/beta/bias/activation epilogues,
every ISA, 1 vs 2 threads bitwise, the bf16 path, float64, empty dims and bad input.
Outputs are poisoned (NaN) before each call, so unwritten elements fail the comparison.
"""

import math

import ember._C as _C
import numpy as np
import pytest

F32, F64, BF16 = 6, 7, 5
SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129, 255, 257, 1000, 1023, 1025]
# Each size once as M, once as N, once as K, in different company.
SHAPES = [(SIZES[i], SIZES[(i + 5) % 18], SIZES[(i + 11) % 18]) for i in range(18)] + [
    (700, 64, 600),  # several K blocks
    (4300, 40, 20),  # several M blocks
    (20, 4100, 30),  # several N blocks
    (300, 300, 1),  # K = 1
    (14, 32, 256),  # exactly one AVX-512 tile
    (6, 16, 5),  # exactly one AVX2 tile
]
ACTS = ["none", "relu", "gelu", "gelu_tanh"]


def T(a):
    return _C.TensorImpl.from_buffer(a)


def bf16_round(x):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16)


def bf16_to_f64(h):
    return (h.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def T_bf16(h):
    """A bfloat16 TensorImpl viewing the uint16 array h (any strides)."""
    return T(h.view(np.float16)).view_as_dtype(BF16)


def act_ref(x, act):
    if act == "relu":
        return np.maximum(x, 0.0)
    if act == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    if act == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return x


def reference(a, b, alpha=1.0, beta=0.0, c0=None, bias=None, act="none"):
    """(value, error scale) in float64 of act(alpha a @ b + beta c0 + bias)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    pre = alpha * (a @ b)
    scale = abs(alpha) * (np.abs(a) @ np.abs(b))
    if beta != 0.0:
        pre = pre + beta * c0
        scale = scale + np.abs(beta * c0)
    if bias is not None:
        pre = pre + bias
        scale = scale + np.abs(bias)
    return act_ref(pre, act), scale


def assert_close(out, ref, scale, K, act="none", rel=2e-6):
    """fp32 accumulation of K products: error within rel * sqrt(K) of sum |a||b|."""
    tol = rel * math.sqrt(K + 1) * scale + 1e-30
    if act != "none":  # activations: Lipschitz <= 1.13, plus a few ulp of the vector math
        tol = 1.2 * tol + 1e-6 * (1.0 + np.abs(ref))
    err = np.abs(out.astype(np.float64) - ref)
    bad = ~(err <= tol)
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} wrong; worst err/tol {np.nanmax(err / tol)}; "
        f"first at {np.argwhere(bad)[0]}"
    )


def gemm(a, b, out, **kw):
    bias = kw.pop("bias", None)
    _C.gemm(
        a if isinstance(a, _C.TensorImpl) else T(a),
        b if isinstance(b, _C.TensorImpl) else T(b),
        T(out),
        bias=None if bias is None else T(bias),
        **kw,
    )
    return out


def operands(rng, B, M, N, K, dtype=np.float32):
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    return a, b


def transposed(x, trans):
    """The same (B, R, C) values, stored transposed when trans (a strided view)."""
    if not trans:
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)


# ---------------------------------------------------------------- float32, every ISA


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_shapes_f32(isa, rng, M, N, K):
    a, b = operands(rng, 1, M, N, K)
    out = gemm(a, b, np.full((1, M, N), np.nan, np.float32))
    ref, scale = reference(a, b)
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("M,N,K", [(1, 33, 65), (37, 1, 129), (65, 47, 300), (129, 70, 17)])
def test_transposes_f32(isa, rng, ta, tb, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    out = gemm(transposed(a, ta), transposed(b, tb), np.full((2, M, N), np.nan, np.float32))
    ref, scale = reference(a, b)
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("M,N,K", [(1, 40, 50), (45, 1, 33), (70, 50, 300)])
def test_sliced_views_f32(isa, rng, M, N, K):
    # Leading dimensions larger than the matrices, sliced rows/cols and batch steps.
    big_a = rng.standard_normal((5, M + 3, 2 * K + 5)).astype(np.float32)
    big_b = rng.standard_normal((3, K + 4, N + 9)).astype(np.float32)
    a = big_a[::2, 1 : M + 1, 3 : 2 * K + 3 : 2]  # column stride 2
    b = big_b[:, 2 : K + 2, 5 : N + 5]
    big_out = np.full((3, M + 2, N + 7), np.nan, np.float32)
    out = big_out[:, 1 : M + 1, 2 : N + 2]
    gemm(a, b, out)
    ref, scale = reference(a, b)
    assert_close(out, ref, scale, K)
    # Only the view was written.
    mask = np.ones(big_out.shape, bool)
    mask[:, 1 : M + 1, 2 : N + 2] = False
    assert np.isnan(big_out[mask]).all()


@pytest.mark.parametrize("M,N,K", [(3, 50, 40), (1, 70, 30), (40, 1, 20), (100, 64, 96)])
def test_batch_stride_zero_f32(isa, rng, M, N, K):
    # One weight matrix broadcast over the batch (stride 0), and a broadcast input.
    B = 4
    a = rng.standard_normal((B, M, K)).astype(np.float32)
    w = rng.standard_normal((1, K, N)).astype(np.float32)
    wb = T(w).as_strided((B, K, N), (0, N, 1), 0)
    out = gemm(T(a), wb, np.full((B, M, N), np.nan, np.float32))
    ref, scale = reference(a, np.broadcast_to(w, (B, K, N)))
    assert_close(out, ref, scale, K)
    a1 = rng.standard_normal((1, M, K)).astype(np.float32)
    ab = T(a1).as_strided((B, M, K), (0, K, 1), 0)
    bb = rng.standard_normal((B, K, N)).astype(np.float32)
    out = gemm(ab, T(bb), np.full((B, M, N), np.nan, np.float32))
    ref, scale = reference(np.broadcast_to(a1, (B, M, K)), bb)
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (1.0, 0.5), (-0.75, 0.0), (2.5, 1.0)])
@pytest.mark.parametrize("M,N,K", [(1, 100, 70), (50, 1, 90), (67, 45, 600), (16, 33, 7)])
def test_alpha_beta_f32(isa, rng, alpha, beta, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    c0 = rng.standard_normal((2, M, N)).astype(np.float32)
    out = gemm(a, b, c0.copy(), alpha=alpha, beta=beta)
    ref, scale = reference(a, b, alpha, beta, c0)
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("M,N,K", [(1, 77, 40), (30, 1, 50), (45, 70, 300), (5, 20, 3)])
def test_bias_activation_f32(isa, rng, act, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((2, M, N)).astype(np.float32)
    out = gemm(a, b, c0.copy(), alpha=0.5, beta=0.5, bias=bias, activation=act)
    ref, scale = reference(a, b, 0.5, 0.5, c0, bias, act)
    assert_close(out, ref, scale, K, act)
    out = gemm(a, b, np.full((2, M, N), np.nan, np.float32), bias=bias, activation=act)
    ref, scale = reference(a, b, bias=bias, act=act)
    assert_close(out, ref, scale, K, act)


def test_beta_zero_ignores_nan(isa, rng):
    # beta == 0: out is write-only, NaN garbage in it must not leak (the GEMV paths too).
    for M, N, K in [(40, 50, 300), (1, 60, 20), (60, 1, 20)]:
        a, b = operands(rng, 1, M, N, K)
        out = gemm(a, b, np.full((1, M, N), np.nan, np.float32), beta=0.0)
        ref, scale = reference(a, b)
        assert_close(out, ref, scale, K)


def test_gemv_strided_x(isa, rng):
    # M == 1 with a non-unit x stride against a column-major b (the dot-product form), and
    # N == 1 with a row stride on the output column.
    K, N = 300, 90
    a = rng.standard_normal((2, 1, 2 * K)).astype(np.float32)[:, :, ::2]
    b = transposed(rng.standard_normal((2, K, N)).astype(np.float32), True)
    out = gemm(a, b, np.full((2, 1, N), np.nan, np.float32))
    ref, scale = reference(a, b)
    assert_close(out, ref, scale, K)
    M = 70
    a = rng.standard_normal((2, M, K)).astype(np.float32)
    b = rng.standard_normal((2, 3 * K, 1)).astype(np.float32)[:, ::3, :]
    big = np.full((2, M, 4), np.nan, np.float32)
    _C.gemm(T(a), T(b), T(big).as_strided((2, M, 1), (4 * M, 4, 1), 1))
    ref, scale = reference(a, b)
    assert_close(big[:, :, 1:2], ref, scale, K)
    assert np.isnan(big[:, :, [0, 2, 3]]).all()


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize(
    "B,M,N,K",
    [
        (1, 300, 400, 700),
        (6, 40, 50, 60),
        (1, 1, 3000, 500),
        (1, 2000, 1, 300),
        (3, 5, 999, 64),
        (1, 4000, 40, 64),
        (2, 300, 200, 500),
    ],
)
def test_threads_bitwise(isa, rng, B, M, N, K):
    a, b = operands(rng, B, M, N, K)
    bias = rng.standard_normal(N).astype(np.float32)
    previous = _C.get_num_threads()
    try:
        results = []
        for n in (1, 2, 1):
            _C.set_num_threads(n)
            out = gemm(a, b, np.full((B, M, N), np.nan, np.float32), bias=bias, activation="gelu")
            results.append(out)
            hb = bf16_round(a), bf16_round(b)
            outb = np.full((B, M, N), np.nan, np.float32)
            _C.gemm(T_bf16(hb[0]), T_bf16(hb[1]), T(outb))
            results.append(outb)
    finally:
        _C.set_num_threads(previous)
    for i in (2, 4):
        assert np.array_equal(results[i], results[0])
    for i in (3, 5):
        assert np.array_equal(results[i], results[1])


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("K", [70, 300])
@pytest.mark.parametrize("N", [45, 400])
def test_small_form_matches_packed(isa, rng, ta, tb, K, N):
    # The first rows of a product big enough for the packed path, computed alone in smaller
    # products (on one thread, or split between threads, without packing A) give the same
    # bits, epilogue and K blocks included, for 1 and 2 threads.
    big_m = 2000
    big_a = transposed(rng.standard_normal((1, big_m, K)).astype(np.float32), ta)
    b = transposed(rng.standard_normal((1, K, N)).astype(np.float32), tb)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((1, big_m, N)).astype(np.float32)
    kw = dict(alpha=0.75, beta=0.5, bias=bias, activation="gelu")
    previous = _C.get_num_threads()
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            big = gemm(big_a, b, c0.copy(), **kw)
            for M in (13, 60, 600):
                small = gemm(big_a[:, :M], b, c0[:, :M].copy(), **kw)
                assert np.array_equal(small, big[:, :M]), (threads, M)
    finally:
        _C.set_num_threads(previous)
    ref, scale = reference(big_a[:, :600], b, 0.75, 0.5, c0[:, :600], bias, "gelu")
    assert_close(small, ref, scale, K, "gelu")


@pytest.mark.parametrize("K,row", [(1024, 1024), (300, 1100)])
def test_small_form_restrided_a(isa, rng, K, row):
    # A skinny A whose rows lie 4 KiB or more apart (a slice of a wider matrix too) is copied
    # to shorter rows before the small-GEMM form: the same bits as the packed path.
    big_m, N = 2000, 256
    wide = rng.standard_normal((1, big_m, row)).astype(np.float32)
    big_a = wide[:, :, :K]
    b = rng.standard_normal((1, K, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((1, big_m, N)).astype(np.float32)
    kw = dict(alpha=0.5, beta=1.0, bias=bias)
    previous = _C.get_num_threads()
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            big = gemm(big_a, b, c0.copy(), **kw)
            for M in (13, 32, 64, 90):  # 13: alone; the rest skinny for K = 1024, 90 for 300
                small = gemm(big_a[:, :M], b, c0[:, :M].copy(), **kw)
                assert np.array_equal(small, big[:, :M]), (threads, M)
    finally:
        _C.set_num_threads(previous)
    ref, scale = reference(big_a[:, :90], b, 0.5, 1.0, c0[:, :90], bias)
    assert_close(small, ref, scale, K)


# ---------------------------------------------------------------- bf16


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize(
    "M,N,K", [(1, 1, 1), (33, 65, 17), (129, 31, 257), (1, 70, 129), (300, 100, 1025), (15, 2, 63)]
)
def test_bf16(isa, rng, ta, tb, M, N, K):
    a, b = operands(rng, 2, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    out = np.full((2, M, N), np.nan, np.float32)
    _C.gemm(T_bf16(transposed(ha, ta)), T_bf16(transposed(hb, tb)), T(out))
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb))
    assert_close(out, ref, scale, K)


@pytest.mark.parametrize("act", ACTS)
def test_bf16_epilogue(isa, rng, act):
    B, M, N, K = 2, 37, 45, 300
    a, b = operands(rng, B, M, N, K)
    ha, hb = bf16_round(a), bf16_round(b)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((B, M, N)).astype(np.float32)
    out = c0.copy()
    _C.gemm(T_bf16(ha), T_bf16(hb), T(out), alpha=1.5, beta=1.0, bias=T(bias), activation=act)
    ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb), 1.5, 1.0, c0, bias, act)
    assert_close(out, ref, scale, K, act)


def test_bf16_rounding_helper():
    x = np.array([1.0, 1.00390625, 1.01171875, -3.5, 1e-3], np.float32)  # ties go to even
    assert list(bf16_to_f64(bf16_round(x))) == [1.0, 1.0, 1.015625, -3.5, 0.00099945068359375]


# ---------------------------------------------------------------- float64


@pytest.mark.parametrize("M,N,K", SHAPES[::3] + [(70, 50, 300)])
def test_shapes_f64(rng, M, N, K):
    a, b = operands(rng, 1, M, N, K, np.float64)
    out = gemm(a, b, np.full((1, M, N), np.nan))
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-13 * math.sqrt(K))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("act", ACTS)
def test_f64_epilogue_transposes(rng, ta, tb, act):
    B, M, N, K = 2, 19, 23, 37
    a, b = operands(rng, B, M, N, K, np.float64)
    bias = rng.standard_normal(N)
    c0 = rng.standard_normal((B, M, N))
    out = gemm(
        transposed(a, ta),
        transposed(b, tb),
        c0.copy(),
        alpha=0.7,
        beta=0.3,
        bias=bias,
        activation=act,
    )
    ref, _ = reference(a, b, 0.7, 0.3, c0, bias, act)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- empty dims


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_k_zero(isa, dtype):
    a, b = np.empty((2, 3, 0), dtype), np.empty((2, 0, 5), dtype)
    out = gemm(a, b, np.full((2, 3, 5), np.nan, dtype))
    assert np.all(out == 0)
    bias = np.arange(5, dtype=dtype)
    c0 = np.full((2, 3, 5), 2.0, dtype)
    out = gemm(a, b, c0.copy(), beta=0.5, bias=bias, activation="relu")
    assert np.array_equal(out, np.broadcast_to(1.0 + bias, (2, 3, 5)))
    for M, N in [(1, 7), (7, 1)]:  # the GEMV forms
        out = gemm(
            np.empty((1, M, 0), dtype),
            np.empty((1, 0, N), dtype),
            np.full((1, M, N), np.nan, dtype),
            bias=np.ones(N, dtype),
        )
        assert np.all(out == 1)


def test_empty_m_n_batch(rng):
    # No output element: nothing written. The empty outputs are views at the start of a
    # poisoned buffer, which must stay poisoned.
    for B, M, N, K in [(2, 0, 4, 3), (2, 5, 0, 3), (0, 5, 4, 3), (2, 0, 0, 0)]:
        a, b = operands(rng, B, M, N, K)
        buf = np.full((max(B, 1), max(M, 1), max(N, 1)), np.nan, np.float32)
        out = gemm(a, b, buf[:B, :M, :N])
        assert out.shape == (B, M, N)
        assert np.all(np.isnan(buf))


# ---------------------------------------------------------------- bad input


def test_errors():
    a = np.ones((2, 3, 4), np.float32)
    b = np.ones((2, 4, 5), np.float32)
    out = np.ones((2, 3, 5), np.float32)
    msg = r"ember\.matmul: shapes \(3, 4\) and \(5, 6\) are not aligned \(4 != 5\)"
    with pytest.raises(ValueError, match=msg):
        _C.gemm(T(a), T(np.ones((2, 5, 6), np.float32)), T(np.ones((2, 3, 6), np.float32)))
    with pytest.raises(ValueError, match=r"ember\.matmul: expected 3-D"):
        _C.gemm(T(a[0]), T(b[0]), T(out[0]))
    with pytest.raises(ValueError, match=r"ember\.matmul: batch sizes differ"):
        _C.gemm(T(a), T(np.ones((3, 4, 5), np.float32)), T(out))
    with pytest.raises(ValueError, match=r"ember\.matmul: out has shape \(2, 3, 4\)"):
        _C.gemm(T(a), T(b), T(np.ones((2, 3, 4), np.float32)))
    with pytest.raises(
        TypeError, match=r"ember\.matmul: unsupported dtypes \(a float32, b float64"
    ):
        _C.gemm(T(a), T(b.astype(np.float64)), T(out))
    with pytest.raises(TypeError, match=r"unsupported dtypes \(a float64, b float64, out float32"):
        _C.gemm(T(a.astype(np.float64)), T(b.astype(np.float64)), T(out))
    with pytest.raises(TypeError, match=r"ember\.matmul: bias must be a TensorImpl or None"):
        _C.gemm(T(a), T(b), T(out), bias=np.ones(5, np.float32))
    with pytest.raises(TypeError, match=r"unsupported dtypes \(a int64"):
        _C.gemm(T(a.astype(np.int64)), T(b.astype(np.int64)), T(out.astype(np.int64)))
    hb = np.ones((2, 4, 5), np.uint16)
    with pytest.raises(TypeError, match=r"unsupported dtypes \(a float32, b bfloat16"):
        _C.gemm(T(a), T_bf16(hb), T(out))
    with pytest.raises(TypeError, match=r"unsupported dtypes \(a bfloat16, b bfloat16, out bfl"):
        _C.gemm(
            T_bf16(np.ones((2, 3, 4), np.uint16)), T_bf16(hb), T_bf16(np.ones((2, 3, 5), np.uint16))
        )
    with pytest.raises(ValueError, match=r"ember\.matmul: bias has shape \(4,\), expected \(5,\)"):
        _C.gemm(T(a), T(b), T(out), bias=T(np.ones(4, np.float32)))
    with pytest.raises(TypeError, match=r"ember\.matmul: bias has dtype float64"):
        _C.gemm(T(a), T(b), T(out), bias=T(np.ones(5)))
    with pytest.raises(ValueError, match=r"bias of shape \(5,\) must be contiguous"):
        _C.gemm(T(a), T(b), T(out), bias=T(np.ones(10, np.float32)[::2]))
    with pytest.raises(ValueError, match=r"ember\.matmul: unknown activation 'tanh'"):
        _C.gemm(T(a), T(b), T(out), activation="tanh")
    # Broadcast (stride 0) and overlapping outputs, non-unit last stride, aliasing inputs.
    base = T(np.ones((1, 1, 5), np.float32))
    with pytest.raises(ValueError, match=r"broadcast or overlapping view"):
        _C.gemm(T(a), T(b), base.as_strided((2, 3, 5), (0, 0, 1), 0))
    with pytest.raises(ValueError, match=r"broadcast or overlapping view"):
        _C.gemm(T(a), T(b), T(np.ones(30, np.float32)).as_strided((2, 3, 5), (15, 2, 1), 0))
    with pytest.raises(ValueError, match=r"needs unit stride in its last dimension"):
        _C.gemm(T(a), T(b), T(np.ones((2, 3, 10), np.float32)[:, :, ::2]))
    sq = np.ones((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"out of shape \(1, 4, 4\) overlaps a"):
        _C.gemm(T(sq), T(np.ones((1, 4, 4), np.float32)), T(sq))
    # Nothing was written on failure.
    assert np.all(out == 1) and np.all(sq == 1)


# ---------------------------------------------------------------- matmul (contiguous API)


@pytest.mark.parametrize(
    "B,M,K,N",
    [
        (1, 1, 1, 1),
        (1, 16, 17, 33),
        (3, 3, 7, 2),
        (4, 17, 127, 3),
        (2, 65, 1, 16),
        (5, 1, 64, 1),
        (2, 0, 3, 4),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul(rng, B, M, K, N, dtype):
    a, b = operands(rng, B, M, N, K, dtype)
    out = np.full((B, M, N), np.nan, dtype)
    _C.matmul(T(a), T(b), T(out))
    ref, scale = reference(a, b)
    assert_close(out, ref, scale, K, rel=2e-6 if dtype == np.float32 else 1e-14)


def test_matmul_errors():
    a = np.ones((2, 3, 4), np.float32)
    b = np.ones((2, 4, 5), np.float32)
    out = np.ones((2, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"shapes \(3, 4\) and \(5, 6\) are not aligned"):
        _C.matmul(T(a), T(np.ones((2, 5, 6), np.float32)), T(np.ones((2, 3, 6), np.float32)))
    with pytest.raises(TypeError, match=r"ember\.matmul: dtypes differ"):
        _C.matmul(T(a), T(b.astype(np.float64)), T(out))
    with pytest.raises(TypeError, match=r"ember\.matmul: expected float32 or float64"):
        _C.matmul(T(a.astype(np.int64)), T(b.astype(np.int64)), T(out.astype(np.int64)))
    at = np.ones((2, 4, 3), np.float32).transpose(0, 2, 1)
    with pytest.raises(ValueError, match=r"ember\.matmul: a of shape \(2, 3, 4\) must be contig"):
        _C.matmul(T(at), T(b), T(out))
    assert np.all(out == 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_small_blocking(isa, rng, threads):
    # Tiny cache blocks exercise many M / N / K blocks, edge panels in each and the K == 0
    # epilogue-only pass across N blocks, on every ISA.
    previous = _C.get_num_threads()
    _C.set_num_threads(threads)
    for bf16 in (False, True):
        _C._gemm_set_blocking(30, 20, 70, bf16)
    try:
        for B, M, N, K in [(2, 97, 203, 65), (1, 65, 300, 0), (3, 33, 129, 41), (1, 2, 257, 63)]:
            a, b = operands(rng, B, M, N, K)
            bias = rng.standard_normal(N).astype(np.float32)
            c0 = rng.standard_normal((B, M, N)).astype(np.float32)
            out = gemm(a, b, c0.copy(), alpha=1.5, beta=0.5, bias=bias, activation="relu")
            ref, scale = reference(a, b, 1.5, 0.5, c0, bias, "relu")
            assert_close(out, ref, scale, K, "relu")
            ha, hb = bf16_round(a), bf16_round(b)
            out = np.full((B, M, N), np.nan, np.float32)
            _C.gemm(T_bf16(ha), T_bf16(hb), T(out))
            ref, scale = reference(bf16_to_f64(ha), bf16_to_f64(hb))
            assert_close(out, ref, scale, K)
    finally:
        for bf16 in (False, True):
            _C._gemm_set_blocking(0, 0, 0, bf16)
        _C.set_num_threads(previous)


def test_blocking_hooks():
    mr, nr, mc, kc, nc = _C._gemm_blocking()
    assert mc % mr == 0 and nc % nr == 0 and kc > 0
    assert isinstance(_C._gemm_bf16_native(), bool)
