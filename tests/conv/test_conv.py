"""conv2d / conv1d kernels and ops against the direct-loop float64 reference: forward,
grad input, grad weight, grad bias; every ISA; every algorithm (depthwise, 1x1 GEMM,
implicit GEMM, col2im backward); gradchecks; 1 vs 2 threads bitwise. Winograd is off here
(EMBER_CONV_WINOGRAD=0) so 3x3 stride-1 shapes keep testing the implicit GEMM;
test_conv_winograd.py covers it."""

import ember._C as _C
import numpy as np
import pytest
from conv_reference import conv2d as ref_conv2d
from conv_reference import conv2d_grads as ref_grads

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

T = _C.TensorImpl.from_buffer


@pytest.fixture(autouse=True)
def _implicit_gemm(monkeypatch):
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "0")


# (n, c, h, w, k, kh, kw, stride, padding, dilation, groups)
CASES = [
    (2, 3, 7, 9, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # first-layer-like, odd sizes
    (1, 4, 8, 8, 6, 3, 3, (2, 2), (1, 1), (1, 1), 2),  # stride 2, groups, batch 1
    (1, 6, 10, 11, 6, 3, 3, (1, 1), (2, 2), (2, 2), 6),  # depthwise, dilated
    (3, 6, 10, 11, 12, 3, 3, (2, 1), (1, 0), (1, 2), 6),  # depthwise x2, mixed stride
    (2, 16, 7, 7, 8, 1, 1, (1, 1), (0, 0), (1, 1), 1),  # 1x1 direct GEMM
    (2, 16, 7, 7, 8, 1, 1, (2, 2), (0, 0), (1, 1), 1),  # 1x1 stride 2
    (2, 17, 5, 5, 33, 1, 1, (1, 1), (1, 1), (1, 1), 1),  # 1x1 with padding
    (2, 5, 9, 9, 7, 1, 3, (1, 1), (0, 3), (1, 1), 1),  # padding > kernel reach
    (1, 3, 1, 31, 4, 1, 5, (1, 3), (0, 2), (1, 1), 1),  # height 1 (conv1d shape)
    (2, 8, 12, 15, 16, 5, 5, (3, 2), (2, 1), (1, 1), 4),  # groups 4, stride 3
    (2, 33, 15, 17, 65, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # several M panels, odd K
    (1, 2, 4, 4, 3, 4, 4, (1, 1), (0, 0), (1, 1), 1),  # kernel == input
    (2, 4, 6, 6, 4, 2, 2, (2, 2), (0, 0), (1, 1), 1),  # non-overlapping stride
    (1, 7, 9, 8, 5, 3, 2, (1, 1), (0, 1), (3, 2), 1),  # dilation, even kernel
]


def _run_kernels(case, rng, dtype=np.float32, bias=True, act="none"):
    n, c, h, w, k, kh, kw, st, pd, dl, g = case
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c // g, kh, kw)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    ref = ref_conv2d(x, wt, b, st, pd, dl, g)
    out = np.full(ref.shape, np.nan, dtype)
    _C.conv2d_forward(T(x), T(wt), None if b is None else T(b), T(out), st, pd, dl, g, act)
    gy = rng.standard_normal(ref.shape).astype(dtype)
    gx = np.full(x.shape, np.nan, dtype)
    gw = np.full(wt.shape, np.nan, dtype)
    gb = np.full(k, np.nan, dtype)
    _C.conv2d_backward_input(T(gy), T(wt), T(gx), st, pd, dl, g)
    _C.conv2d_backward_weight(T(gy), T(x), T(gw), st, pd, dl, g)
    _C.conv2d_backward_bias(T(gy), T(gb))
    return (x, wt, b, gy), ref, (out, gx, gw, gb)


def _close(got, want, rtol):
    scale = max(np.abs(want).max(), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("case", CASES, ids=[str(c[:7]) for c in CASES])
def test_conv2d_kernels_vs_reference(case, isa, rng):
    (x, wt, b, gy), ref, (out, gx, gw, gb) = _run_kernels(case, rng)
    _, _, _, _, _, _, _, st, pd, dl, g = case
    gx_r, gw_r, gb_r = ref_grads(x, wt, gy, st, pd, dl, g)
    _close(out, ref, 2e-6)
    _close(gx, gx_r, 2e-6)
    _close(gw, gw_r, 2e-6)
    _close(gb, gb_r, 2e-6)


@pytest.mark.parametrize("case", CASES[:6], ids=[str(c[:7]) for c in CASES[:6]])
def test_conv2d_kernels_float64(case, rng):
    (x, wt, b, gy), ref, (out, gx, gw, gb) = _run_kernels(case, rng, np.float64)
    _, _, _, _, _, _, _, st, pd, dl, g = case
    gx_r, gw_r, gb_r = ref_grads(x, wt, gy, st, pd, dl, g)
    for got, want in ((out, ref), (gx, gx_r), (gw, gw_r), (gb, gb_r)):
        _close(got, want, 1e-13)


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[10]])
def test_fused_relu(case, isa, rng):
    (x, wt, b, gy), ref, (out, *_) = _run_kernels(case, rng, act="relu")
    _close(out, np.maximum(ref, 0), 2e-6)
    assert (out >= 0).all()


def test_algorithm_rule():
    algo = _C._conv_algo
    assert algo((1, 8, 5, 5), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 8) == "depthwise"
    assert algo((1, 8, 5, 5), (16, 1, 3, 3), (2, 2), (1, 1), (1, 1), 8) == "depthwise"
    assert algo((1, 8, 5, 5), (4, 8, 1, 1), (1, 1), (0, 0), (1, 1), 1) == "gemm1x1"
    assert algo((1, 8, 5, 5), (4, 8, 1, 1), (2, 2), (0, 0), (1, 1), 1) == "implicit_gemm"
    assert algo((1, 8, 5, 5), (4, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1) == "implicit_gemm"
    assert algo((1, 1, 5, 5), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1) == "implicit_gemm"


@pytest.mark.parametrize(
    "case",
    [
        (3, 64, 20, 20, 48, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # several pixel tiles
        (2, 300, 6, 6, 40, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # several K blocks (K = 2700)
        (2, 96, 9, 9, 64, 3, 3, (2, 2), (1, 1), (1, 1), 1),  # col2im, several M blocks
        (1, 32, 40, 40, 16, 1, 1, (1, 1), (0, 0), (1, 1), 1),  # 1x1, several tiles
        (4, 48, 33, 17, 48, 3, 3, (1, 1), (1, 1), (1, 1), 48),  # depthwise, odd widths
    ],
    ids=["tiles", "kblocks", "col2im", "1x1-tiles", "depthwise-wide"],
)
def test_threads_bitwise(case, isa, rng):
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        inputs, _, one = _run_kernels(case, np.random.default_rng(1))
        ember.set_num_threads(2)
        _, _, two = _run_kernels(case, np.random.default_rng(1))
    finally:
        ember.set_num_threads(old)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "case",
    [
        (3, 64, 20, 20, 48, 3, 3, (1, 1), (1, 1), (1, 1), 1),
        (2, 300, 6, 6, 40, 3, 3, (1, 1), (1, 1), (1, 1), 1),
        (2, 96, 9, 9, 64, 3, 3, (2, 2), (1, 1), (1, 1), 1),
        (2, 8, 70, 67, 16, 3, 3, (2, 2), (1, 1), (1, 1), 1),  # strided gathers, full vectors
        (1, 6, 41, 80, 10, 3, 5, (3, 2), (2, 3), (2, 2), 2),  # stride 3 rows, dilated
        (1, 4, 37, 70, 8, 3, 3, (1, 1), (1, 1), (1, 1), 4),  # depthwise: 4-row blocks + tails
        (1, 4, 21, 69, 4, 5, 5, (1, 2), (2, 2), (1, 1), 4),  # depthwise, column stride 2
    ],
    ids=["tiles", "kblocks", "col2im", "s2-wide", "s3-dilated", "dw-wide", "dw-s2"],
)
def test_large_vs_reference(case, isa, rng):
    (x, wt, b, gy), ref, (out, gx, gw, gb) = _run_kernels(case, rng)
    _, _, _, _, _, _, _, st, pd, dl, g = case
    gx_r, gw_r, gb_r = ref_grads(x, wt, gy, st, pd, dl, g)
    _close(out, ref, 1e-5)
    _close(gx, gx_r, 1e-5)
    _close(gw, gw_r, 1e-5)
    _close(gb, gb_r, 1e-5)


# ---- ops: autograd, conv1d, padding modes ---------------------------------------------------
def _t(a, requires_grad=True):
    return ember.tensor(a, dtype=ember.float64, requires_grad=requires_grad)


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=1, padding=1),
        dict(stride=2, padding=(1, 0), dilation=(1, 2)),
        dict(padding="same", dilation=2),
        dict(padding="valid"),
        dict(stride=(2, 1), groups=2),
    ],
)
def test_conv2d_gradcheck(kw, rng):
    x = _t(rng.standard_normal((2, 4, 5, 6)))
    w = _t(rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 2)))
    b = _t(rng.standard_normal(4))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])


def test_conv2d_depthwise_gradcheck(rng):
    x = _t(rng.standard_normal((2, 3, 5, 5)))
    w = _t(rng.standard_normal((6, 1, 3, 3)))
    b = _t(rng.standard_normal(6))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=3), [x, w, b])
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, groups=3), [x, w, b])


def test_conv2d_relu_gradcheck(rng):
    x = _t(rng.standard_normal((2, 3, 5, 5)))
    w = _t(rng.standard_normal((4, 3, 3, 3)))
    b = _t(rng.standard_normal(4))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, activation="relu"), [x, w, b])


def test_conv1d_gradcheck_and_reference(rng):
    x = _t(rng.standard_normal((2, 4, 11)))
    w = _t(rng.standard_normal((6, 2, 3)))
    b = _t(rng.standard_normal(6))
    assert gradcheck(
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2), [x, w, b]
    )
    out = F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2)
    ref = ref_conv2d(
        x.detach().numpy()[:, :, None],
        w.detach().numpy()[:, :, None],
        b.detach().numpy(),
        (1, 2),
        (0, 2),
        (1, 2),
        2,
    )[:, :, 0]
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_same_padding_keeps_size(kernel, dilation, rng):
    x = ember.tensor(rng.standard_normal((2, 3, 7, 8)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((5, 3, kernel, kernel)).astype(np.float32))
    out = F.conv2d(x, w, padding="same", dilation=dilation)
    assert out.shape == (2, 5, 7, 8)
    # PyTorch's rule: total padding d (k - 1), the odd one extra at the end.
    total = dilation * (kernel - 1)
    lo = total // 2
    xp = np.zeros((2, 3, 7 + total, 8 + total), np.float32)
    xp[:, :, lo : lo + 7, lo : lo + 8] = x.numpy()
    ref = ref_conv2d(xp, w.numpy(), None, (1, 1), (0, 0), (dilation, dilation), 1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)


def test_unbatched_and_dtypes(rng):
    x = rng.standard_normal((3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out = F.conv2d(ember.tensor(x), ember.tensor(w), padding=1)
    assert out.shape == (4, 6, 6)
    ref = ref_conv2d(x[None], w, None, (1, 1), (1, 1), (1, 1), 1)[0]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)
    out16 = F.conv2d(ember.tensor(x).bfloat16(), ember.tensor(w).bfloat16(), padding=1)
    assert out16.dtype is ember.bfloat16
    np.testing.assert_allclose(out16.float().numpy(), ref, rtol=0.05, atol=0.2)


def test_noncontiguous_inputs(rng):
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xt = ember.tensor(x).permute(0, 3, 2, 1)  # (2, 3, 5, 6), strided
    out = F.conv2d(xt, ember.tensor(w), padding=1)
    ref = ref_conv2d(x.transpose(0, 3, 2, 1), w, None, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)


def test_backward_matches_reference_float32(isa, rng):
    x = ember.tensor(rng.standard_normal((3, 5, 9, 7)).astype(np.float32), requires_grad=True)
    w = ember.tensor(rng.standard_normal((7, 5, 3, 3)).astype(np.float32), requires_grad=True)
    b = ember.tensor(rng.standard_normal(7).astype(np.float32), requires_grad=True)
    out = F.conv2d(x, w, b, stride=2, padding=1)
    gy = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(ember.tensor(gy))
    gx, gw, gb = ref_grads(x.detach().numpy(), w.detach().numpy(), gy, (2, 2), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-5, atol=1e-4)


def test_empty_batch(rng):
    x = ember.zeros(0, 3, 5, 5, requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    # an empty batch contributes nothing to the weight gradient
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3, 3, 3), np.float32))
    assert x.grad.shape == (0, 3, 5, 5)
