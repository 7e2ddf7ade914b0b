"""Q8_0 / Q4_0 block quantization (csrc/cpu/qblock): bytes identical to ggml's reference
quantizers, round-trip bounds, qblock_linear against a float64 product of the dequantized
blocks and the Q8_0-quantized input, on every ISA and thread count; bad input."""

import ggml_reference as R
import numpy as np
import pytest

import ember
from ember.ops import qblock as Q

QUANTIZE = {"q8_0": Q.quantize_q8_0, "q4_0": Q.quantize_q4_0}
REF_QUANTIZE = {"q8_0": R.quantize_q8_0, "q4_0": R.quantize_q4_0}


def _bytes(t: ember.Tensor) -> np.ndarray:
    return t.numpy().view(np.uint8)


def _sample(rng, n, k):
    """Gaussian rows with a spread of block magnitudes, exact zeros and a zero block."""
    x = (rng.standard_normal((n, k)) * rng.uniform(1e-3, 10.0, (n, 1))).astype(np.float32)
    x[0, :32] = 0.0
    if k > 32:
        x[-1, 33] = 0.0
    return x


@pytest.mark.parametrize("scheme", ["q8_0", "q4_0"])
@pytest.mark.parametrize("n,k", [(1, 32), (7, 64), (5, 4096)])
def test_bytes_match_ggml_reference(scheme, n, k, rng):
    x = _sample(rng, n, k)
    got = _bytes(QUANTIZE[scheme](ember.from_numpy(x)))
    np.testing.assert_array_equal(got, REF_QUANTIZE[scheme](x))
    assert got.shape == (n, k // 32 * Q.SCHEMES[scheme])


def test_q4_0_nibble_order():
    # value j in the low nibble of byte j, value j + 16 in its high nibble, stored as q + 8
    x = np.zeros((1, 32), np.float32)
    x[0, 0] = -8.0  # the largest magnitude: d = -8 / -8 = 1, q = -8 -> 0
    x[0, 16] = 7.0  # q = 7 -> 15
    x[0, 1] = 1.0  # q = 1 -> 9
    b = _bytes(Q.quantize_q4_0(ember.from_numpy(x)))[0]
    assert b[:2].view("<f2")[0] == 1.0
    assert b[2] == 0x0 | 15 << 4
    assert b[3] == 9 | 8 << 4
    assert all(v == 0x88 for v in b[4:])


def test_q4_0_largest_value_sets_the_sign_of_d():
    x = np.linspace(-1.0, 2.0, 32, dtype=np.float32)[None]
    b = _bytes(Q.quantize_q4_0(ember.from_numpy(x)))[0]
    assert b[:2].view("<f2")[0] == np.float16(-0.25)  # 2 / -8
    assert b[2 + 15] >> 4 == 0  # the value 2.0 (index 31) is q = -8


@pytest.mark.parametrize("scheme", ["q8_0", "q4_0"])
def test_round_trip(scheme, rng):
    x = _sample(rng, 9, 256)
    blocks = QUANTIZE[scheme](ember.from_numpy(x))
    back = Q.dequantize_blocks(blocks, scheme).numpy()
    np.testing.assert_array_equal(back, R.dequantize(_bytes(blocks), scheme))
    amax = np.abs(x.reshape(9, -1, 32)).max(axis=2, keepdims=True)
    err = np.abs((back - x).reshape(9, -1, 32))
    # Q8_0: half a step (amax / 127) plus the fp16 rounding of d; Q4_0: the value opposite in
    # sign to the largest one clamps at q = 7, a full step (amax / 8) off at most.
    step = amax / (127 if scheme == "q8_0" else 8)
    assert np.all(err <= step * (0.5 if scheme == "q8_0" else 1.0) * 1.07 + 1e-30)
    assert err.mean() < 0.3 * step.mean()


def _linear_reference(x, blocks, scheme, bias):
    xq = R.dequantize(R.quantize_q8_0(x), "q8_0").astype(np.float64)
    w = R.dequantize(blocks, scheme).astype(np.float64)
    y = xq @ w.T + (0.0 if bias is None else bias.astype(np.float64))
    # float32 per-block scale products and sums: a few roundings per block of the terms' sizes
    bound = (np.abs(xq) @ np.abs(w).T) * 6e-8 * (x.shape[1] // 32 + 4) + 1e-30
    return y, bound


SHAPES = [(1, 1, 32), (1, 13, 64), (3, 31, 96), (7, 17, 4096), (2, 67, 512)]


@pytest.mark.parametrize("scheme", ["q8_0", "q4_0"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_linear_matches_float64_reference(scheme, m, n, k, isa, rng):
    x = _sample(rng, m, k)
    w = _sample(rng, n, k)
    bias = rng.standard_normal(n).astype(np.float32) if n % 2 else None
    blocks = QUANTIZE[scheme](ember.from_numpy(w))
    y = Q.qblock_linear(
        ember.from_numpy(x), blocks, scheme, n, k, None if bias is None else ember.from_numpy(bias)
    ).numpy()
    ref, bound = _linear_reference(x, _bytes(blocks), scheme, bias)
    assert y.shape == (m, n) and y.dtype == np.float32
    assert np.all(np.abs(y - ref) <= bound + 1e-6 * np.abs(ref))


@pytest.mark.parametrize("scheme", ["q8_0", "q4_0"])
def test_linear_threads_bitwise_and_leading_dims(scheme, isa, rng):
    x = _sample(rng, 6, 512)
    blocks = QUANTIZE[scheme](ember.from_numpy(_sample(rng, 301, 512)))
    old = ember.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ember.set_num_threads(t)
            outs.append(Q.qblock_linear(ember.from_numpy(x), blocks, scheme, 301, 512).numpy())
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(outs[0], outs[1])
    y3 = Q.qblock_linear(ember.from_numpy(x.reshape(2, 3, 512)), blocks, scheme, 301, 512).numpy()
    np.testing.assert_array_equal(y3.reshape(6, 301), outs[0])


def test_linear_all_isas_agree_closely(rng):
    from ember import _C

    x = _sample(rng, 2, 1024)
    blocks = Q.quantize_q4_0(ember.from_numpy(_sample(rng, 40, 1024)))
    old = _C.get_isa()
    outs = []
    try:
        for isa in _C.available_isas():
            _C.set_isa(isa)
            outs.append(Q.qblock_linear(ember.from_numpy(x), blocks, "q4_0", 40, 1024).numpy())
    finally:
        _C.set_isa(old)
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-4, atol=1e-4)


def _f32(*shape, dtype=np.float32):
    return ember.from_numpy(np.ones(shape, dtype))


def _w8():
    return Q.quantize_q8_0(_f32(2, 64))


def _lin(x=None, w=None, scheme="q8_0", n=2, k=64, bias=None):
    return Q.qblock_linear(
        _f32(1, 64) if x is None else x, _w8() if w is None else w, scheme, n, k, bias
    )


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: Q.quantize_q8_0(_f32(2, 48)), ValueError, "multiple of 32"),
        (lambda: Q.quantize_q4_0(_f32(64)), ValueError, r"\(N, K\)"),
        (lambda: Q.quantize_q8_0(_f32(1, 32, dtype=np.float64)), TypeError, "float32"),
        (lambda: Q.quantize_q8_0(np.ones((1, 32), np.float32)), TypeError, "expected a Tensor"),
        (lambda: Q.dequantize_blocks(_f32(1, 34), "q8_0"), TypeError, "int8"),
        (lambda: Q.dequantize_blocks(_w8(), "q5_1"), ValueError, "unknown block scheme"),
        (lambda: Q.dequantize_blocks(_w8(), "q4_0"), ValueError, "multiple of 18"),
        (lambda: _lin(x=_f32(1, 48), k=48), ValueError, "multiple of 32"),
        (lambda: _lin(k=32), ValueError, "K = 32"),
        (lambda: _lin(scheme="q4_0"), ValueError, "blocks"),
        (lambda: _lin(n=3), ValueError, "blocks"),
        (lambda: _lin(n=0), ValueError, "N"),
        (lambda: _lin(w=_f32(2, 68)), TypeError, "int8"),
        (lambda: _lin(bias=_f32(3)), ValueError, "bias"),
        (lambda: _lin(x=_f32(1, 64, dtype=np.float64)), TypeError, "float32"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_non_finite_input_does_not_crash():
    x = np.ones((2, 32), np.float32)
    x[0, 3], x[1, 5] = np.nan, np.inf
    for f in QUANTIZE.values():
        f(ember.from_numpy(x))
