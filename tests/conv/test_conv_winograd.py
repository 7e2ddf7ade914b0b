"""Winograd F(4x4, 3x3) conv2d (float32, 3x3, stride 1) against the direct-loop float64
reference: forward (bias, fused ReLU), grad input (a Winograd forward of the flipped
kernel), grad weight and bias, every ISA, ragged and tiny images, padding 0..2, several
GEMM K blocks; its error bound; 1 vs 2 threads bitwise; the algorithm rule and the
EMBER_CONV_WINOGRAD switch."""

import ember._C as _C
import numpy as np
import pytest
from conv_reference import conv2d as ref_conv2d
from conv_reference import conv2d_grads as ref_grads

import ember
import ember.nn.functional as F

T = _C.TensorImpl.from_buffer
ONE = (1, 1)

# Max abs error relative to the output's scale (max |reference|). F(4x4, 3x3)'s transforms
# multiply values by up to 10 (B^T) and 26 (A^T) before the channel sum, so its error is
# ~10x the direct GEMM's 2e-6.
BOUND = 4e-5


def _rel_err(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


@pytest.fixture
def winograd_on(monkeypatch):
    """EMBER_CONV_WINOGRAD=1: Winograd for every 3x3 stride-1 shape, whatever its size."""
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "1")


def _algo(n, c, h, w, k, p):
    return _C._conv_algo((n, c, h, w), (k, c, 3, 3), ONE, (p, p), ONE, 1)


def _run(n, c, h, w, k, p, rng, act="none"):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    ref = ref_conv2d(x, wt, b, ONE, (p, p), ONE, 1)
    out = np.full(ref.shape, np.nan, np.float32)
    _C.conv2d_forward(T(x), T(wt), T(b), T(out), ONE, (p, p), ONE, 1, act)
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    gx = np.full(x.shape, np.nan, np.float32)
    gw = np.full(wt.shape, np.nan, np.float32)
    _C.conv2d_backward_input(T(gy), T(wt), T(gx), ONE, (p, p), ONE, 1)
    _C.conv2d_backward_weight(T(gy), T(x), T(gw), ONE, (p, p), ONE, 1)
    return (x, wt, gy), ref, (out, gx, gw)


# (n, c, h, w, k, padding): every size 1..7, 13, 14, 32 and primes, batch 1 and odd,
# channel counts off the GEMM's micro-tile, a single tile, many blocks.
SHAPES = [
    (1, 16, 1, 1, 16, 1),
    (3, 17, 2, 3, 19, 1),
    (1, 20, 3, 3, 16, 0),
    (2, 16, 3, 5, 23, 1),
    (1, 31, 5, 5, 17, 0),
    (3, 16, 7, 7, 29, 1),
    (1, 24, 6, 13, 16, 2),
    (2, 19, 13, 14, 21, 1),
    (1, 37, 14, 14, 41, 0),
    (5, 16, 11, 4, 18, 1),
    (1, 16, 32, 32, 16, 1),
    (3, 33, 17, 23, 65, 1),
    (2, 300, 7, 5, 20, 1),  # several GEMM K blocks on every ISA
    (2, 16, 4, 6, 17, 3),  # padding 3
]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_winograd_vs_reference(shape, isa, rng, winograd_on):
    n, c, h, w, k, p = shape
    assert _algo(n, c, h, w, k, p) == "winograd"
    # grad input runs as a forward with in and out channels swapped and padding 2 - p
    # (the implicit GEMM when that is negative).
    if p <= 2:
        assert _algo(n, k, h + 2 * p - 2, w + 2 * p - 2, c, 2 - p) == "winograd"
    (x, wt, gy), ref, (out, gx, gw) = _run(*shape, rng)
    gx_r, gw_r, _ = ref_grads(x, wt, gy, ONE, (p, p), ONE, 1)
    assert _rel_err(out, ref) <= BOUND
    assert _rel_err(gx, gx_r) <= BOUND
    assert _rel_err(gw, gw_r) <= 2e-5  # grad weight is the implicit GEMM's


@pytest.mark.parametrize("shape", [(2, 16, 5, 9, 20, 1), (1, 24, 14, 14, 32, 0)])
def test_winograd_fused_relu(shape, isa, rng, winograd_on):
    _, ref, (out, _, _) = _run(*shape, rng, act="relu")
    assert (out >= 0).all()
    assert _rel_err(out, np.maximum(ref, 0)) <= BOUND


def test_winograd_error_at_256_channels(rng):
    # A bench layer's channels (C = K = 256, 14x14) through the default rule.
    n, c, h, w, k, p = 2, 256, 14, 14, 256, 1
    assert _algo(n, c, h, w, k, p) == "winograd"
    (x, wt, gy), ref, (out, gx, _) = _run(n, c, h, w, k, p, rng)
    gx_r, _, _ = ref_grads(x, wt, gy, ONE, (p, p), ONE, 1)
    assert _rel_err(out, ref) <= BOUND
    assert _rel_err(gx, gx_r) <= BOUND


@pytest.mark.parametrize(
    "shape",
    [(3, 64, 20, 20, 48, 1), (1, 40, 14, 14, 96, 1), (5, 300, 6, 9, 16, 0)],
    ids=["blocks", "channel-split", "kblocks"],
)
def test_winograd_threads_bitwise(shape, isa, winograd_on):
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        _, _, one = _run(*shape, np.random.default_rng(1))
        ember.set_num_threads(2)
        _, _, two = _run(*shape, np.random.default_rng(1))
    finally:
        ember.set_num_threads(old)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_winograd_autograd_float32(isa, rng, winograd_on):
    x_np = rng.standard_normal((2, 32, 12, 10)).astype(np.float32)
    w_np = rng.standard_normal((24, 32, 3, 3)).astype(np.float32)
    b_np = rng.standard_normal(24).astype(np.float32)
    assert _algo(2, 32, 12, 10, 24, 1) == "winograd"
    x = ember.tensor(x_np, requires_grad=True)
    w = ember.tensor(w_np, requires_grad=True)
    b = ember.tensor(b_np, requires_grad=True)
    out = F.conv2d(x, w, b, 1, 1)
    gy = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(ember.tensor(gy))
    gx_r, gw_r, gb_r = ref_grads(x_np, w_np, gy, ONE, ONE, ONE, 1)
    assert _rel_err(out.detach().numpy(), ref_conv2d(x_np, w_np, b_np, ONE, ONE, ONE, 1)) <= BOUND
    assert _rel_err(x.grad.numpy(), gx_r) <= BOUND
    assert _rel_err(w.grad.numpy(), gw_r) <= 2e-5
    assert _rel_err(b.grad.numpy(), gb_r) <= 2e-6


def test_winograd_rule(monkeypatch):
    monkeypatch.delenv("EMBER_CONV_WINOGRAD", raising=False)
    algo = _C._conv_algo
    # The bench's middle layers.
    assert _algo(32, 64, 32, 32, 64, 1) == "winograd"
    assert _algo(32, 128, 16, 16, 128, 1) == "winograd"
    assert _algo(8, 256, 14, 14, 256, 1) == "winograd"
    assert _algo(64, 64, 2, 2, 64, 1) == "winograd"  # tiny images, but 64 tiles
    assert _algo(32, 64, 32, 32, 8, 1) == "winograd"
    assert _algo(32, 3, 32, 32, 64, 1) == "implicit_gemm"  # too few input channels
    assert _algo(32, 64, 32, 32, 4, 1) == "implicit_gemm"  # too few output channels
    assert _algo(1, 64, 8, 8, 64, 1) == "implicit_gemm"  # 4 tiles
    assert _algo(1, 32, 32, 32, 32, 1) == "implicit_gemm"  # 64 tiles but T C K = 2^16
    assert algo((2, 64, 16, 16), (64, 64, 3, 3), (2, 2), ONE, ONE, 1) == "implicit_gemm"
    assert algo((2, 64, 16, 16), (64, 64, 3, 3), ONE, ONE, (2, 2), 1) == "implicit_gemm"
    assert algo((2, 64, 16, 16), (64, 32, 3, 3), ONE, ONE, ONE, 2) == "implicit_gemm"
    assert algo((2, 64, 16, 16), (64, 64, 3, 5), ONE, ONE, ONE, 1) == "implicit_gemm"
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "0")
    assert _algo(32, 64, 32, 32, 64, 1) == "implicit_gemm"
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "1")
    assert _algo(1, 1, 1, 1, 1, 1) == "winograd"
    assert algo((2, 64, 16, 16), (64, 64, 3, 3), (2, 2), ONE, ONE, 1) == "implicit_gemm"


def test_switch_off_gives_implicit_gemm_result(monkeypatch, rng):
    # EMBER_CONV_WINOGRAD=0 runs the implicit GEMM: a different rounding of the same sums.
    shape = (8, 64, 9, 11, 64, 1)
    monkeypatch.delenv("EMBER_CONV_WINOGRAD", raising=False)
    assert _algo(*shape) == "winograd"
    _, ref, (on, _, _) = _run(*shape, np.random.default_rng(3))
    monkeypatch.setenv("EMBER_CONV_WINOGRAD", "0")
    assert _algo(*shape) == "implicit_gemm"
    _, _, (off, _, _) = _run(*shape, np.random.default_rng(3))
    assert _rel_err(off, ref) <= 2e-6
    assert _rel_err(on, ref) <= BOUND
    assert not np.array_equal(on, off)
