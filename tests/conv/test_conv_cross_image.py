"""Implicit-GEMM conv2d whose pixel tiles span images: small output planes (1, 20, 42, 81 and
14x14 = 196 pixels, which leave much of their last GEMM panel empty) with batch > 1 are tiled
over consecutive images and copied out of a buffer. Forward (bias, fused relu, groups, strided 1x1),
grad input (the same GEMM on the transposed problem) and grad weight against the float64
reference on every ISA; 1 vs 2 threads bitwise. Winograd is off."""

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


# (n, c, h, w, k, kh, kw, stride, padding, groups)
CASES = [
    (5, 6, 14, 14, 9, 3, 3, (1, 1), (1, 1), 1),  # 196 pixels, 5 images
    (3, 4, 28, 28, 8, 3, 3, (2, 2), (1, 1), 1),  # stride 2 down to 14x14
    (7, 3, 3, 3, 5, 3, 3, (1, 1), (0, 0), 1),  # one pixel per image
    (4, 5, 7, 5, 6, 1, 1, (1, 1), (0, 0), 1),  # 1x1 (stays per image): 35 pixels
    (4, 5, 9, 7, 6, 1, 1, (2, 2), (0, 0), 1),  # 1x1 stride 2 (im2col): 5x4 pixels
    (6, 8, 9, 9, 4, 3, 3, (1, 1), (1, 1), 2),  # groups, 81 pixels
    (2, 3, 11, 13, 7, 3, 3, (2, 2), (1, 1), 1),  # 6x7 = 42 pixels, odd sizes
]


def _run(case, rng, act="none"):
    n, c, h, w, k, kh, kw, st, pd, g = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    ref = ref_conv2d(x, wt, b, st, pd, (1, 1), g)
    out = np.full(ref.shape, np.nan, np.float32)
    _C.conv2d_forward(T(x), T(wt), T(b), T(out), st, pd, (1, 1), g, act)
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    gx = np.full(x.shape, np.nan, np.float32)
    gw = np.full(wt.shape, np.nan, np.float32)
    _C.conv2d_backward_input(T(gy), T(wt), T(gx), st, pd, (1, 1), g)
    _C.conv2d_backward_weight(T(gy), T(x), T(gw), st, pd, (1, 1), g)
    return (x, wt, gy), ref, (out, gx, gw)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(np.abs(want).max(), 1.0))


@pytest.mark.parametrize("case", CASES, ids=[str(c[:9]) for c in CASES])
def test_cross_image_vs_reference(case, isa, rng):
    (x, wt, gy), ref, (out, gx, gw) = _run(case, rng)
    _, _, _, _, _, _, _, st, pd, g = case
    gx_r, gw_r, _ = ref_grads(x, wt, gy, st, pd, (1, 1), g)
    _close(out, ref)
    _close(gx, gx_r)
    _close(gw, gw_r)


def test_cross_image_fused_relu(isa, rng):
    case = CASES[0]
    _, ref, (out, _, _) = _run(case, rng, act="relu")
    _close(out, np.maximum(ref, 0))


# Large enough (> 2^21 flops) to run on both threads, with more tiles than threads.
BIG = [(8, 32, 14, 14, 64, 3, 3, (1, 1), (1, 1), 1), (16, 24, 5, 5, 40, 3, 3, (1, 1), (1, 1), 2)]


@pytest.mark.parametrize("case", BIG, ids=["14x14", "5x5-groups"])
def test_cross_image_threads_bitwise_and_reference(case, isa):
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        _, _, one = _run(case, np.random.default_rng(5))
        ember.set_num_threads(2)
        (x, wt, gy), ref, two = _run(case, np.random.default_rng(5))
    finally:
        ember.set_num_threads(old)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)
    _, _, _, _, _, _, _, st, pd, g = case
    gx_r, gw_r, _ = ref_grads(x, wt, gy, st, pd, (1, 1), g)
    for got, want in zip(two, (ref, gx_r, gw_r)):
        _close(got, want)
