"""The copy kernel (strided copy with broadcasting and dtype conversion, the tiled transpose
path) and fill, against numpy, with every byte outside the destination view left alone."""

import ember._C as _C
import numpy as np
import pytest

import ember

ALL_NP = [np.bool_, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64]


def impl(a):
    return _C.TensorImpl.from_buffer(a)


def convert_ref(x, dst):
    """numpy's astype, except that float -> int truncates toward zero, saturates and maps NaN
    to 0 (C++ leaves these undefined; ember fixes them)."""
    dst = np.dtype(dst)
    if x.dtype.kind == "f" and dst.kind == "i":
        info = np.iinfo(dst)
        v = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0, posinf=np.inf, neginf=-np.inf)
        out = np.where(v > 0, info.max, info.min).astype(dst)
        inside = (v > info.min) & (v < info.max)
        out[inside] = v[inside].astype(dst)
        return out
    with np.errstate(over="ignore"):
        return x.astype(dst)


def random_values(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    # Large enough to exercise saturation of narrow integers, with fractions to truncate.
    return (rng.standard_normal(shape) * 300).astype(dtype)


def poisoned(shape, dtype):
    return np.full(shape, 99 if np.dtype(dtype).kind in "iub" else np.nan, dtype)


def dst_view(buf):
    """A strided window inside `buf`: every other row, columns shifted by one."""
    return buf[::2, 1:-1] if buf.ndim == 2 else buf[..., ::2, 1:-1]


def outside(buf):
    """The elements of buf that are not in dst_view(buf)."""
    mask = np.ones(buf.shape, bool)
    dst_view(mask)[...] = False
    return buf[mask]


# (source shape before striding, destination shape): the source broadcasts to the destination.
CASES = [
    ((1, 1), (1, 1)),
    ((3, 17), (3, 17)),
    ((1, 13), (5, 13)),
    ((7, 1), (7, 33)),
    ((2, 1, 9), (2, 6, 9)),
    ((4, 3, 1), (4, 3, 129)),
]


@pytest.mark.parametrize("src_shape,shape", CASES)
@pytest.mark.parametrize("dst", ALL_NP)
@pytest.mark.parametrize("src", ALL_NP)
def test_copy_strided_broadcast_convert(rng, src, dst, src_shape, shape):
    # The source is a strided slice (every other element of its last axis).
    big = random_values(rng, (*src_shape[:-1], 2 * src_shape[-1]), src)
    x = big[..., ::2]
    buf_shape = (*shape[:-2], 2 * shape[-2], shape[-1] + 2)
    buf = poisoned(buf_shape, dst)
    before = outside(buf).copy()
    _C.copy(impl(x), impl(dst_view(buf)))
    want = convert_ref(np.broadcast_to(x, shape), dst)
    np.testing.assert_array_equal(dst_view(buf), want)
    np.testing.assert_array_equal(outside(buf), before)


@pytest.mark.parametrize("dst", [np.int8, np.int32, np.int64])
def test_float16_to_int_saturates_like_float32(dst):
    x = np.array([300.0, -300.0, np.inf, -np.inf, np.nan, 100.75], np.float16)
    out = poisoned(x.shape, dst)
    _C.copy(impl(x), impl(out))
    want = poisoned(x.shape, dst)
    _C.copy(impl(x.astype(np.float32)), impl(want))
    np.testing.assert_array_equal(out, want)


# (rows, cols) of the destination: a single row or column (the strided loop takes those), then
# the tiled transpose path with partial 32-wide tiles and enough tiles for every thread.
TRANSPOSE_SHAPES = [(1, 16), (16, 1), (31, 17), (33, 47), (100, 257), (1031, 203)]


@pytest.mark.parametrize("shape", TRANSPOSE_SHAPES)
@pytest.mark.parametrize("dtype", [np.int8, np.float16, np.float32, np.int64])
def test_copy_transposed_tiles(rng, dtype, shape):
    rows, cols = shape
    # Padded source rows: the transposed view's column stride is >= 16, as the tiles need.
    a = random_values(rng, (cols, rows + 16), dtype)[:, :rows]
    buf = poisoned((2 * rows, cols + 2), dtype)
    before = outside(buf).copy()
    _C.copy(impl(a.T), impl(dst_view(buf)))
    np.testing.assert_array_equal(dst_view(buf), a.T)
    np.testing.assert_array_equal(outside(buf), before)


def test_copy_threads_bitwise(rng):
    a = rng.standard_normal((700, 1501)).astype(np.float32)
    outs = []
    previous = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            out = poisoned((1501, 700), np.float64)
            _C.copy(impl(a.T), impl(out))  # converting: the strided loop, not the tiles
            tiled = poisoned((1501, 700), np.float32)
            _C.copy(impl(a.T), impl(tiled))
            outs.append((out, tiled))
    finally:
        _C.set_num_threads(previous)
    np.testing.assert_array_equal(outs[0][0], a.T.astype(np.float64))
    np.testing.assert_array_equal(outs[0][1], a.T)
    for x, y in zip(outs[0], outs[1], strict=True):
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("value", [2.75, -3.5, 1e10, -1e10, 0.0, float("nan"), float("inf")])
@pytest.mark.parametrize("dtype", ALL_NP)
def test_fill_strided_converts_the_value(dtype, value):
    want = convert_ref(np.array([value], np.float64), dtype)[0]
    buf = poisoned((9, 19), dtype)
    if dtype == np.bool_ or np.isnan(want):
        buf[...] = not want  # a poison equal to the value would hide an unwritten element
    before = outside(buf).copy()
    _C.fill(impl(dst_view(buf)), value)
    np.testing.assert_array_equal(dst_view(buf), np.full(dst_view(buf).shape, want))
    np.testing.assert_array_equal(outside(buf), before)


def test_copy_errors():
    dst = np.full((3, 4), 7.0)
    with pytest.raises(ValueError, match=r"ember\.copy: cannot broadcast shape \(3,\) to \(3, 4\)"):
        _C.copy(impl(np.ones(3)), impl(dst))
    assert np.all(dst == 7.0)


# ---------------------------------------------------------------- conversions through Tensor.to


@pytest.mark.parametrize("src", ALL_NP)
@pytest.mark.parametrize("dst", ["bool", "int8", "int32", "int64", "float16", "float32", "float64"])
def test_dtype_conversion_matches_numpy(src, dst, rng):
    x = (rng.standard_normal(37) * 50).astype(src)
    got = ember.from_numpy(x).to(getattr(ember, dst)).numpy()
    np.testing.assert_array_equal(got, convert_ref(x, dst))


def test_float16_rounding_matches_numpy(rng):
    x = np.concatenate(
        [
            rng.standard_normal(1000).astype(np.float32) * 10.0 ** rng.integers(-8, 6, 1000),
            np.array([65504, 65520, 1e9, -1e9, 6e-8, 2e-8, np.inf, -np.inf, 0, -0.0], np.float32),
        ]
    ).astype(np.float32)
    got = ember.from_numpy(x).half().numpy()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    back = ember.from_numpy(got).float().numpy()
    np.testing.assert_array_equal(back, got.astype(np.float32))
    assert np.isnan(ember.tensor([np.nan]).half().float().item())


def test_bfloat16_round_to_nearest_even(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
    got = ember.from_numpy(x).bfloat16().float().numpy()
    np.testing.assert_array_equal(got, rounded)
    with pytest.raises(TypeError, match="bfloat16"):
        ember.tensor([1.0]).bfloat16().numpy()
