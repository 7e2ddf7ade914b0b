"""ember.ops.sparse24: 2:4 compression keeps each group's 2 largest |w| and round-trips
exactly; sparse24_linear against a float64 product with the masked dense weight on awkward
shapes, on every ISA (every kernel: per-token dots below 8 tokens, then panels, AVX-512 rows16
from 160), thread counts and leading dims; bad input."""

import numpy as np
import pytest

import ember
from ember.ops import sparse24 as S


def _mask_2to4(w: np.ndarray) -> np.ndarray:
    """The reference 2:4 mask: per group of 4, the 2 largest |w| (lower column on ties)."""
    g = np.abs(w.reshape(w.shape[0], -1, 4))
    order = np.argsort(-g, axis=2, kind="stable")[:, :, :2]
    mask = np.zeros(g.shape, bool)
    np.put_along_axis(mask, order, True, axis=2)
    return mask.reshape(w.shape)


def _compress(w: np.ndarray):
    return S.compress_2to4(ember.from_numpy(w))


@pytest.mark.parametrize("n,k", [(1, 4), (3, 12), (17, 772), (64, 3072)])
def test_round_trip_is_the_masked_weight(n, k, rng):
    w = rng.standard_normal((n, k)).astype(np.float32)
    values, positions = _compress(w)
    assert values.shape == (n, k // 2) and positions.shape == (n, k // 2)
    assert values.dtype is ember.float32 and positions.dtype is ember.int8
    pos = positions.numpy()
    assert pos.min() >= 0 and pos.max() <= 3
    assert np.all(pos[:, 0::2] < pos[:, 1::2])  # column order within each group
    dense = S.decompress_2to4(values, positions).numpy()
    np.testing.assert_array_equal(dense, np.where(_mask_2to4(w), w, 0.0))
    # compressing the masked weight again gives the same values and positions
    v2, p2 = _compress(dense)
    np.testing.assert_array_equal(v2.numpy(), values.numpy())
    np.testing.assert_array_equal(p2.numpy(), pos)


def test_ties_keep_the_lower_columns():
    w = np.array([[1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, -2.0]], np.float32)
    values, positions = _compress(w)
    np.testing.assert_array_equal(positions.numpy(), [[0, 1, 0, 1, 1, 3]])
    np.testing.assert_array_equal(values.numpy(), [[1.0, -1.0, 0.0, 0.0, 2.0, -2.0]])


def test_nan_is_kept():
    w = np.array([[0.5, np.nan, 3.0, 1.0]], np.float32)
    values, positions = _compress(w)
    np.testing.assert_array_equal(positions.numpy(), [[1, 2]])
    assert np.isnan(values.numpy()[0, 0])


SHAPES = [
    (1, 1, 4),
    (1, 17, 772),
    (2, 3072, 12),
    (7, 5, 4096),
    (8, 17, 772),
    (13, 1, 4),
    (31, 33, 100),
    (67, 3072, 12),
    (130, 19, 260),
    (75, 53, 300),  # panels: 2 (the last partial), rows 48 + 5, K not a multiple of the block
    (159, 13, 132),  # AVX-512: the last token count on panels
    (160, 13, 132),  # AVX-512: the first on rows16
    (493, 40, 64),  # AVX-512: 2 pieces of tokens; 2 whole 16-row blocks into y, 1 partial
]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_matches_float64_reference(m, n, k, with_bias, isa, rng):
    w = rng.standard_normal((n, k)).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32) if with_bias else None
    values, positions = _compress(w)
    y = S.sparse24_linear(
        ember.from_numpy(x), values, positions, None if bias is None else ember.from_numpy(bias)
    ).numpy()
    dense = np.where(_mask_2to4(w), w, 0.0).astype(np.float64)
    ref = x.astype(np.float64) @ dense.T + (0.0 if bias is None else bias.astype(np.float64))
    bound = (np.abs(x).astype(np.float64) @ np.abs(dense).T) * 6e-8 * (k // 2 + 4) + 1e-30
    assert y.shape == (m, n) and y.dtype == np.float32
    assert np.all(np.abs(y - ref) <= bound + 1e-6 * np.abs(ref))


@pytest.mark.parametrize("m,n,k", [(1, 5, 8), (160, 13, 132), (493, 40, 64), (200, 48, 772)])
def test_packed_rows16_gives_the_same_bits(m, n, k, isa, rng):
    # a kept packed layout changes where the weight comes from, not one bit of the result
    x = ember.from_numpy(rng.standard_normal((m, k)).astype(np.float32))
    bias = ember.from_numpy(rng.standard_normal(n).astype(np.float32))
    values, positions = _compress(rng.standard_normal((n, k)).astype(np.float32))
    packed = S.pack_rows16(values, positions)
    assert packed.values.shape == packed.ids.shape == (-(-n // 16) * 16 * (k // 2),)
    np.testing.assert_array_equal(
        S.sparse24_linear(x, values, positions, bias, packed).numpy(),
        S.sparse24_linear(x, values, positions, bias).numpy(),
    )
    if isa == "avx512":
        assert S.rows16_min_tokens() == 160
    else:
        assert S.rows16_min_tokens() is None


def test_packed_rows16_layout(rng):
    # row 16 b + l, kept index j -> [(b * K / 2 + j) * 16 + l]; id = 4 * ((j / 2) % 4) + position
    n, k = 19, 24
    values, positions = _compress(rng.standard_normal((n, k)).astype(np.float32))
    packed = S.pack_rows16(values, positions)
    kh = k // 2
    wv = packed.values.numpy().reshape(2, kh, 16)
    ids = packed.ids.numpy().reshape(2, kh, 16)
    v, pos = values.numpy(), positions.numpy()
    for row in range(32):
        b, lane = divmod(row, 16)
        for j in range(kh):
            want_v = v[row, j] if row < n else 0.0
            want_id = 4 * ((j // 2) % 4) + (pos[row, j] if row < n else 0)
            assert wv[b, j, lane] == want_v and ids[b, j, lane] == want_id


def test_packed_rows16_bad_input(rng):
    values, positions = _compress(rng.standard_normal((20, 8)).astype(np.float32))
    x = ember.from_numpy(rng.standard_normal((200, 8)).astype(np.float32))
    other = S.pack_rows16(*_compress(rng.standard_normal((40, 8)).astype(np.float32)))
    with pytest.raises(ValueError, match="packed values has shape"):
        S.sparse24_linear(x, values, positions, None, other)
    good = S.pack_rows16(values, positions)
    with pytest.raises(TypeError, match="float32 / int32"):
        S.sparse24_linear(x, values, positions, None, S.PackedRows16(good.values, good.values))


def test_positions_are_read_modulo_4(rng):
    # a stored byte outside 0..3 cannot send the kernels outside their inputs
    w = rng.standard_normal((9, 40)).astype(np.float32)
    x = ember.from_numpy(rng.standard_normal((10, 40)).astype(np.float32))
    values, positions = _compress(w)
    wild = ember.from_numpy((positions.numpy().astype(np.int16) + 4 * 31).astype(np.int8))
    for rows in (x, x[:1]):
        np.testing.assert_array_equal(
            S.sparse24_linear(rows, values, wild).numpy(),
            S.sparse24_linear(rows, values, positions).numpy(),
        )


@pytest.mark.parametrize("m", [3, 70])
def test_linear_threads_bitwise_and_leading_dims(m, isa, rng):
    k, n = 520, 301
    x = rng.standard_normal((m, k)).astype(np.float32)
    values, positions = _compress(rng.standard_normal((n, k)).astype(np.float32))
    old = ember.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ember.set_num_threads(t)
            outs.append(S.sparse24_linear(ember.from_numpy(x), values, positions).numpy())
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(outs[0], outs[1])
    y3 = S.sparse24_linear(ember.from_numpy(x.reshape(1, m, k)), values, positions).numpy()
    np.testing.assert_array_equal(y3.reshape(m, n), outs[0])


def test_bad_input(rng):
    w = ember.from_numpy(rng.standard_normal((4, 8)).astype(np.float32))
    values, positions = S.compress_2to4(w)
    x = ember.from_numpy(rng.standard_normal((2, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="multiple of 4"):
        S.compress_2to4(ember.zeros(3, 6))
    with pytest.raises(ValueError, match="2-D"):
        S.compress_2to4(ember.zeros(8))
    with pytest.raises(TypeError, match="float32"):
        S.compress_2to4(ember.zeros(2, 8, dtype=ember.float64))
    with pytest.raises(TypeError, match="int8"):
        S.decompress_2to4(values, values)
    with pytest.raises(ValueError, match="one shape"):
        S.decompress_2to4(values, positions[:2])
    with pytest.raises(ValueError, match="does not end in K = 8"):
        S.sparse24_linear(ember.zeros(2, 12), values, positions)
    with pytest.raises(TypeError, match="input has dtype"):
        S.sparse24_linear(x.double(), values, positions)
    with pytest.raises(TypeError, match="bias has dtype"):
        S.sparse24_linear(x, values, positions, ember.zeros(4, dtype=ember.float64))
    with pytest.raises(ValueError, match="bias"):
        S.sparse24_linear(x, values, positions, ember.zeros(5))
    with pytest.raises(TypeError):
        S.sparse24_linear(x.numpy(), values, positions)


def test_no_gradient_flows(rng):
    values, positions = _compress(rng.standard_normal((4, 8)).astype(np.float32))
    x = ember.from_numpy(rng.standard_normal((2, 8)).astype(np.float32)).requires_grad_()
    assert not S.sparse24_linear(x, values, positions).requires_grad
