"""ember.ops.qgemm against exact numpy integer references and float64 epilogues.

Covers every ISA (the `isa` fixture; the avx512 path is vpdpbusd where the CPU has VNNI),
odd shapes (1, primes, K not a multiple of 4 / 16 / 64, several M and N blocks), extreme
values over long K (no saturation), 1 vs 2 threads bitwise, the fused epilogue with bias and
ReLU / GELU, the row quantizer, and bad input.
"""

import math

import ember._C as _C
import numpy as np
import pytest

import ember
from ember.ops import qgemm

SHAPES = [
    (1, 1, 1),
    (1, 17, 5),
    (2, 3, 7),
    (7, 31, 13),
    (13, 16, 64),
    (6, 32, 65),
    (97, 33, 127),
    (101, 131, 255),
    (200, 257, 37),
    (5, 1000, 3),
    (300, 48, 1031),
]


def u8_tensor(a: np.ndarray) -> ember.Tensor:
    return ember.from_numpy(np.ascontiguousarray(a.astype(np.uint8).view(np.int8)))


def exact(x_u8: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x_u8.astype(np.int64) @ w.astype(np.int64).T


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_int32_accumulators_bit_exact(isa, rng, m, n, k):
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    got = qgemm.int8_matmul(u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w))).numpy()
    assert got.dtype == np.int32 and got.shape == (m, n)
    np.testing.assert_array_equal(got.astype(np.int64), exact(x, w))


@pytest.mark.parametrize("k", [1, 3, 1000, 4099, 65536])
def test_extreme_values_do_not_saturate(isa, k):
    # 255 x -128 is where vpmaddubsw would saturate int16; every kernel must stay exact.
    m, n = 7, 19
    x = np.full((m, k), 255, np.uint8)
    w = np.full((n, k), -128, np.int8)
    w[1::2] = 127
    got = qgemm.int8_matmul(u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w))).numpy()
    np.testing.assert_array_equal(got.astype(np.int64), exact(x, w))


def test_threads_bitwise(rng):
    x = rng.integers(0, 256, (500, 300), dtype=np.uint8)
    w = rng.integers(-128, 128, (700, 300), dtype=np.int8)
    packed = qgemm.pack_int8_weight(ember.from_numpy(w))
    scale = ember.from_numpy(rng.random(500, dtype=np.float32))
    zero = ember.from_numpy(rng.integers(0, 256, 500).astype(np.int32))
    ws = ember.from_numpy(rng.random(700, dtype=np.float32))
    previous = _C.get_num_threads()
    outs = []
    try:
        for t in (1, 2):
            _C.set_num_threads(t)
            outs.append(qgemm.int8_linear(u8_tensor(x), scale, zero, packed, ws).numpy())
    finally:
        _C.set_num_threads(previous)
    np.testing.assert_array_equal(outs[0], outs[1])


def gelu(v: np.ndarray) -> np.ndarray:
    return 0.5 * v * (1.0 + np.vectorize(math.erf)(v / math.sqrt(2.0)))


@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (37, 45, 67), (70, 129, 300)])
def test_epilogue_vs_float64(isa, rng, activation, m, n, k):
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    a_scale = (rng.random(m) * 0.1 + 0.001).astype(np.float32)
    a_zero = rng.integers(0, 256, m).astype(np.int32)
    w_scale = (rng.random(n) * 0.01 + 0.0001).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    got = qgemm.int8_linear(
        u8_tensor(x),
        ember.from_numpy(a_scale),
        ember.from_numpy(a_zero),
        qgemm.pack_int8_weight(ember.from_numpy(w)),
        ember.from_numpy(w_scale),
        ember.from_numpy(bias),
        activation=activation,
    ).numpy()
    centered = (x.astype(np.int64) - a_zero[:, None]) @ w.astype(np.int64).T
    ref = a_scale[:, None].astype(np.float64) * w_scale[None, :] * centered + bias
    if activation == "relu":
        ref = np.maximum(ref, 0.0)
    elif activation == "gelu":
        ref = gelu(ref)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_linear_without_bias_matches_dequantized(rng):
    m, n, k = 9, 20, 33
    x = rng.standard_normal((m, k)).astype(np.float32)
    q, scale, zero = qgemm.quantize_rows_u8(ember.from_numpy(x))
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    ws = np.full(n, 0.02, np.float32)
    got = qgemm.int8_linear(
        q, scale, zero, qgemm.pack_int8_weight(ember.from_numpy(w)), ember.from_numpy(ws)
    ).numpy()
    deq = (q.numpy().view(np.uint8).astype(np.float64) - zero.numpy()[:, None]) * scale.numpy()[
        :, None
    ]
    ref = deq @ (w.astype(np.float64) * 0.02).T
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # each code is off by at most scale / 2, so the product by that times sum |w|
    bound = 0.5 * scale.numpy()[:, None] * (np.abs(w.astype(np.float64)) * 0.02).sum(1) + 1e-5
    assert (np.abs(got - x @ (w.astype(np.float64) * 0.02).T) <= bound).all()


def quantize_ref(x: np.ndarray):
    lo = np.minimum(x.min(axis=1), 0).astype(np.float32)
    hi = np.maximum(x.max(axis=1), 0).astype(np.float32)
    scale = np.where(hi > lo, (hi - lo) / np.float32(255), np.float32(1)).astype(np.float32)
    zero = np.clip(np.round(-lo / scale), 0, 255).astype(np.float32)
    q = np.clip(np.round(x / scale[:, None]) + zero[:, None], 0, 255).astype(np.uint8)
    return q, scale, zero.astype(np.int32)


@pytest.mark.parametrize("m,k", [(1, 1), (3, 7), (64, 385), (513, 768)])
def test_quantize_rows_vs_numpy(isa, rng, m, k):
    x = (rng.standard_normal((m, k)) * rng.random((m, 1)) * 10).astype(np.float32)
    x[0, :] = np.abs(x[0, :])  # an all-positive row: zero point 0
    if m > 1:
        x[1, :] = 0.0  # an all-zero row: scale 1
    q, scale, zero = qgemm.quantize_rows_u8(ember.from_numpy(x))
    rq, rs, rz = quantize_ref(x)
    np.testing.assert_array_equal(q.numpy().view(np.uint8), rq)
    np.testing.assert_array_equal(scale.numpy(), rs)
    np.testing.assert_array_equal(zero.numpy(), rz)


def test_uses_vnni_reports_the_path(isa):
    assert qgemm.uses_vnni() == (
        isa == "avx512" and "avx512" in _C.available_isas() and _has_vnni()
    )


def _has_vnni() -> bool:
    with open("/proc/cpuinfo") as f:
        return "avx512_vnni" in f.read()


# ---- bad input


def _packed(n=4, k=8):
    return qgemm.pack_int8_weight(ember.from_numpy(np.ones((n, k), np.int8)))


def _row_args(m=2):
    return ember.ones(m), ember.zeros(m, dtype=ember.int32)


def test_pack_errors():
    with pytest.raises(TypeError, match="pack_int8_weight.*weight"):
        qgemm.pack_int8_weight(ember.ones(3, 4))
    with pytest.raises(ValueError, match="pack_int8_weight.*2-D"):
        qgemm.pack_int8_weight(ember.from_numpy(np.ones(4, np.int8)))
    with pytest.raises(ValueError, match=r"pack_int8_weight.*\[1, 65536\]"):
        qgemm.pack_int8_weight(ember.from_numpy(np.ones((2, 65537), np.int8)))
    with pytest.raises(TypeError, match="pack_int8_weight.*Tensor"):
        qgemm.pack_int8_weight(np.ones((2, 2), np.int8))


def test_linear_errors():
    w = _packed()
    s, z = _row_args()
    x = u8_tensor(np.ones((2, 8)))
    ws = ember.ones(4)
    with pytest.raises(ValueError, match=r"int8_linear.*\(2, 8\).*\(4, 8\)|int8_linear.*packed"):
        qgemm.int8_linear(u8_tensor(np.ones((2, 9))), s, z, w, ws)
    with pytest.raises(TypeError, match="int8_linear.*input.*float32"):
        qgemm.int8_linear(ember.ones(2, 8), s, z, w, ws)
    with pytest.raises(ValueError, match="int8_linear.*a_scale.*2"):
        qgemm.int8_linear(x, ember.ones(3), z, w, ws)
    with pytest.raises(TypeError, match="int8_linear.*a_zero"):
        qgemm.int8_linear(x, s, ember.zeros(2), w, ws)
    with pytest.raises(ValueError, match="int8_linear.*w_scale"):
        qgemm.int8_linear(x, s, z, w, ember.ones(5))
    with pytest.raises(ValueError, match="int8_linear.*bias"):
        qgemm.int8_linear(x, s, z, w, ws, bias=ember.ones(3))
    with pytest.raises(ValueError, match=r"int8_linear.*a_zero\[1\] = 256"):
        qgemm.int8_linear(x, s, ember.tensor([0, 256], dtype=ember.int32), w, ws)
    with pytest.raises(ValueError, match="int8_linear.*activation"):
        qgemm.int8_linear(x, s, z, w, ws, activation="tanh")
    with pytest.raises(TypeError, match="int8_linear.*PackedInt8Weight"):
        qgemm.int8_linear(x, s, z, ember.ones(4, 8), ws)
    with pytest.raises(ValueError, match="int8_linear.*2-D"):
        qgemm.int8_linear(u8_tensor(np.ones(8)), s, z, w, ws)
    with pytest.raises(ValueError, match="int8_linear.*contiguous"):
        qgemm.int8_linear(u8_tensor(np.ones((8, 2))).t(), s, z, w, ws)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"int8_matmul.*packed weight of shape"):
        qgemm.int8_matmul(u8_tensor(np.ones((2, 9))), _packed())
    with pytest.raises(TypeError, match="int8_matmul.*int8"):
        qgemm.int8_matmul(ember.ones(2, 8, dtype=ember.int32), _packed())


def test_quantize_errors():
    with pytest.raises(TypeError, match="quantize_rows_u8.*float32"):
        qgemm.quantize_rows_u8(ember.ones(2, 2, dtype=ember.float64))
    with pytest.raises(ValueError, match="quantize_rows_u8.*2-D"):
        qgemm.quantize_rows_u8(ember.ones(2, 2, 2))


def test_check_zero_false_skips_only_the_range_check(rng):
    # Zero points known to be u8 (ember's quantizers make them) need no check: the result is
    # the checked call's, bit for bit; an out-of-range one is then not caught.
    x = rng.integers(0, 256, (7, 33), dtype=np.uint8)
    w = qgemm.pack_int8_weight(ember.from_numpy(rng.integers(-128, 128, (5, 33), dtype=np.int8)))
    s = ember.from_numpy((rng.random(7) * 0.1 + 0.01).astype(np.float32))
    z = ember.from_numpy(rng.integers(0, 256, 7).astype(np.int32))
    ws = ember.from_numpy((rng.random(5) * 0.01 + 0.001).astype(np.float32))
    checked = qgemm.int8_linear(u8_tensor(x), s, z, w, ws).numpy()
    trusted = qgemm.int8_linear(u8_tensor(x), s, z, w, ws, check_zero=False).numpy()
    np.testing.assert_array_equal(trusted, checked)
    bad = ember.from_numpy(np.full(7, 300, np.int32))
    with pytest.raises(ValueError, match=r"a_zero\[0\] = 300"):
        qgemm.int8_linear(u8_tensor(x), s, bad, w, ws)
    assert qgemm.int8_linear(u8_tensor(x), s, bad, w, ws, check_zero=False).shape == (7, 5)
