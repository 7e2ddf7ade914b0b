"""Strided conv2d (the implicit GEMM whose im2col reads every s-th input column; stride 2
on avx512 loads two vectors and permutes their even lanes) against the float64 reference:
forward, grad input, grad weight and grad bias on awkward shapes, every ISA; 1 vs 2 threads
bitwise. Winograd is off (it only takes stride 1 anyway)."""

import ember._C as _C
import numpy as np
import pytest
from conv_reference import conv2d as ref_conv2d
from conv_reference import conv2d_grads as ref_grads

import ember

T = _C.TensorImpl.from_buffer


@pytest.fixture(autouse=True)
def _implicit_gemm(monkeypatch):
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "0")


# (n, c, h, w, k, kh, kw, stride, padding, dilation, groups)
CASES = [
    (2, 5, 33, 37, 7, 3, 3, (2, 2), (1, 1), (1, 1), 1),  # odd sizes, rows straddle panels
    (1, 1, 31, 41, 3, 3, 3, (2, 2), (0, 0), (1, 1), 1),  # 1 channel, no padding
    (3, 3, 17, 19, 5, 3, 3, (2, 2), (2, 2), (1, 1), 1),  # padding 2: lanes before the row
    (2, 7, 13, 71, 11, 3, 3, (2, 2), (1, 1), (1, 1), 1),  # wide rows: full vectors + tails
    (2, 6, 29, 23, 9, 3, 3, (3, 3), (1, 1), (1, 1), 3),  # stride 3, groups
    (1, 4, 23, 29, 6, 3, 3, (2, 2), (2, 2), (2, 2), 2),  # dilated, groups
    (2, 3, 19, 67, 5, 3, 5, (1, 2), (1, 2), (1, 1), 1),  # column stride 2 only
    (2, 13, 11, 11, 17, 3, 3, (2, 3), (1, 0), (1, 1), 1),  # mixed strides, primes
    (1, 2, 5, 5, 3, 3, 3, (2, 2), (1, 1), (1, 1), 1),  # output smaller than a vector
    (2, 8, 16, 16, 4, 1, 1, (2, 2), (0, 0), (1, 1), 1),  # 1x1 stride 2 (downsample)
]


def _run(case, rng):
    n, c, h, w, k, kh, kw, st, pd, dl, g = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    ref = ref_conv2d(x, wt, b, st, pd, dl, g)
    out = np.full(ref.shape, np.nan, np.float32)
    _C.conv2d_forward(T(x), T(wt), T(b), T(out), st, pd, dl, g, "none")
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    gx = np.full(x.shape, np.nan, np.float32)
    gw = np.full(wt.shape, np.nan, np.float32)
    gb = np.full(k, np.nan, np.float32)
    _C.conv2d_backward_input(T(gy), T(wt), T(gx), st, pd, dl, g)
    _C.conv2d_backward_weight(T(gy), T(x), T(gw), st, pd, dl, g)
    _C.conv2d_backward_bias(T(gy), T(gb))
    return (x, wt, gy), ref, (out, gx, gw, gb)


def _close(got, want, tol):
    scale = max(np.abs(want).max(), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("case", CASES, ids=[str(c[:10]) for c in CASES])
def test_strided_vs_reference(case, isa, rng):
    (x, wt, gy), ref, (out, gx, gw, gb) = _run(case, rng)
    _, _, _, _, _, _, _, st, pd, dl, g = case
    gx_r, gw_r, gb_r = ref_grads(x, wt, gy, st, pd, dl, g)
    _close(out, ref, 1e-5)
    _close(gx, gx_r, 1e-5)
    _close(gw, gw_r, 1e-5)
    _close(gb, gb_r, 1e-5)


# Large enough (> 2^21 flops) to run on both threads.
BIG = [
    (2, 16, 40, 70, 24, 3, 3, (2, 2), (1, 1), (1, 1), 1),
    (4, 24, 61, 64, 24, 3, 3, (3, 3), (1, 1), (1, 1), 2),
]


@pytest.mark.parametrize("case", BIG, ids=["s2", "s3-groups"])
def test_strided_threads_bitwise(case, isa):
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        _, _, one = _run(case, np.random.default_rng(3))
        ember.set_num_threads(2)
        _, _, two = _run(case, np.random.default_rng(3))
    finally:
        ember.set_num_threads(old)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("case", BIG, ids=["s2", "s3-groups"])
def test_strided_large_vs_reference(case, isa, rng):
    (x, wt, gy), ref, (out, gx, gw, gb) = _run(case, rng)
    _, _, _, _, _, _, _, st, pd, dl, g = case
    gx_r, gw_r, gb_r = ref_grads(x, wt, gy, st, pd, dl, g)
    for got, want in ((out, ref), (gx, gx_r), (gw, gw_r), (gb, gb_r)):
        _close(got, want, 1e-5)
