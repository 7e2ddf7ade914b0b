"""gather / scatter_add / index_select / index_add against numpy references."""

import itertools

import ember._C as _C
import numpy as np
import pytest


def impl(a):
    return _C.TensorImpl.from_buffer(a)


def poisoned(shape, dtype):
    if np.issubdtype(dtype, np.floating):
        return np.full(shape, np.nan, dtype=dtype)
    return np.full(shape, 123, dtype=dtype)


def random_values(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-1000, 1000, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def index_shape_for(rng, xshape, dim):
    """An index shape no larger than xshape outside dim, any length (>= 1) at dim."""
    shape = [int(rng.integers(1, s + 1)) for s in xshape]
    shape[dim] = int(rng.integers(1, 2 * xshape[dim] + 2))
    return tuple(shape)


def naive_scatter_add(out, dim, index, src):
    out = out.copy()
    for p in itertools.product(*(range(s) for s in index.shape)):
        q = list(p)
        q[dim] = index[p]
        out[tuple(q)] += src[p]
    return out


def run_gather(x, dim, index):
    out = poisoned(index.shape, x.dtype)
    _C.gather(impl(x), dim, impl(index), impl(out))
    return out


XSHAPES = [(5,), (3, 7), (4, 1, 6), (2, 17, 3), (33, 5, 2)]


@pytest.mark.parametrize("xshape", XSHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_, np.int8])
def test_gather_every_dim(rng, xshape, dtype):
    x = random_values(rng, xshape, dtype)
    for dim in range(len(xshape)):
        ishape = index_shape_for(rng, xshape, dim)
        index = rng.integers(0, xshape[dim], size=ishape)
        out = run_gather(x, dim, index)
        # take_along_axis needs index.shape == x.shape outside dim: slice x down first.
        sl = tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(ishape))
        ref = np.take_along_axis(x[sl], index, axis=dim)
        assert np.array_equal(out, ref)


def test_gather_float16_copies_bits(rng):
    x = rng.standard_normal((4, 9)).astype(np.float16)
    index = rng.integers(0, 9, size=(4, 3))
    assert np.array_equal(run_gather(x, 1, index), np.take_along_axis(x, index, axis=1))


def test_gather_large_parallel(rng):
    x = rng.standard_normal((300, 257)).astype(np.float32)
    index = rng.integers(0, 300, size=(1000, 257))
    out = run_gather(x, 0, index)
    assert np.array_equal(out, np.take_along_axis(x, index[:, :257], axis=0))


@pytest.mark.parametrize("xshape", XSHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_scatter_add_every_dim(rng, xshape, dtype):
    for dim in range(len(xshape)):
        ishape = index_shape_for(rng, xshape, dim)
        index = rng.integers(0, xshape[dim], size=ishape)  # plenty of duplicates
        src = random_values(rng, ishape, dtype)
        base = random_values(rng, xshape, dtype)
        out = base.copy()
        _C.scatter_add(impl(out), dim, impl(index), impl(src))
        ref = naive_scatter_add(base.astype(np.float64), dim, index, src.astype(np.float64))
        if dtype == np.float32:
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)


def test_scatter_add_is_gather_backward(rng):
    # <gather(x), g> == <x, scatter_add(0, g)> for any x, g.
    x = rng.standard_normal((6, 11))
    index = rng.integers(0, 11, size=(5, 20))
    g = rng.standard_normal((5, 20))
    grad = np.zeros_like(x)
    _C.scatter_add(impl(grad), 1, impl(index), impl(g))
    assert np.isclose(np.sum(run_gather(x, 1, index) * g), np.sum(x * grad))


def test_scatter_add_deterministic_threads(rng):
    index = rng.integers(0, 50, size=(4000, 64))
    src = rng.standard_normal((4000, 64)).astype(np.float32)
    results = []
    previous = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            for dim in (0, 1):
                out = (
                    np.zeros((50, 64), np.float32) if dim == 0 else np.zeros((4000, 50), np.float32)
                )
                idx = index if dim == 0 else index % 50
                _C.scatter_add(impl(out), dim, impl(idx), impl(src))
                results.append(out)
    finally:
        _C.set_num_threads(previous)
    assert np.array_equal(results[0], results[2])
    assert np.array_equal(results[1], results[3])


def test_gather_out_of_bounds(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    index = np.array([[0, 1], [7, 2], [4, 4]])
    out = poisoned((3, 2), np.float32)
    msg = r"ember\.gather: index 7 is out of bounds for dimension 1 with size 5"
    with pytest.raises(IndexError, match=msg):
        _C.gather(impl(x), 1, impl(index), impl(out))
    assert np.all(np.isnan(out))
    with pytest.raises(IndexError, match=r"index -1 is out of bounds for dimension 0 with size 3"):
        _C.gather(impl(x), 0, impl(np.array([[0, -1]])), impl(np.zeros((1, 2), np.float32)))


def test_scatter_add_out_of_bounds():
    out = np.zeros((3, 5))
    with pytest.raises(IndexError, match=r"ember\.scatter_add: index 3 is out of bounds"):
        _C.scatter_add(impl(out), 0, impl(np.array([[0, 3]])), impl(np.ones((1, 2))))
    assert np.all(out == 0)


def test_gather_errors():
    x = np.zeros((3, 5), np.float32)
    idx = np.zeros((3, 2), np.int64)
    out = np.zeros((3, 2), np.float32)
    with pytest.raises(TypeError, match=r"ember\.gather: expected index of dtype int64, got int32"):
        _C.gather(impl(x), 1, impl(idx.astype(np.int32)), impl(out))
    with pytest.raises(TypeError, match=r"ember\.gather: dtypes differ"):
        _C.gather(impl(x), 1, impl(idx), impl(out.astype(np.float64)))
    with pytest.raises(ValueError, match=r"ember\.gather: dim -1 is negative"):
        _C.gather(impl(x), -1, impl(idx), impl(out))
    with pytest.raises(ValueError, match=r"ember\.gather: dim 2 is out of range"):
        _C.gather(impl(x), 2, impl(idx), impl(out))
    with pytest.raises(ValueError, match=r"must have as many dimensions"):
        _C.gather(impl(x), 1, impl(np.zeros(3, np.int64)), impl(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"is larger than input of shape \(3, 5\) in dimension 0"):
        _C.gather(impl(x), 1, impl(np.zeros((4, 2), np.int64)), impl(np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError, match=r"ember\.gather: out has shape \(3, 3\)"):
        _C.gather(impl(x), 1, impl(idx), impl(np.zeros((3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"must be contiguous"):
        _C.gather(impl(x), 1, impl(np.zeros((2, 3), np.int64).T), impl(out))


def test_scatter_add_errors():
    out = np.zeros((3, 5), np.float32)
    idx = np.zeros((3, 2), np.int64)
    with pytest.raises(TypeError, match=r"ember\.scatter_add: unsupported dtype bool"):
        _C.scatter_add(impl(out.astype(bool)), 1, impl(idx), impl(np.ones((3, 2), bool)))
    with pytest.raises(TypeError, match=r"ember\.scatter_add: expected index of dtype int64"):
        _C.scatter_add(
            impl(out), 1, impl(idx.astype(np.float32)), impl(np.ones((3, 2), np.float32))
        )
    with pytest.raises(ValueError, match=r"ember\.scatter_add: src has shape \(3, 3\)"):
        _C.scatter_add(impl(out), 1, impl(idx), impl(np.ones((3, 3), np.float32)))


@pytest.mark.parametrize("xshape", [(7,), (5, 3), (4, 17, 3), (2, 3, 1000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_, np.int8])
def test_index_select_every_dim(rng, xshape, dtype):
    x = random_values(rng, xshape, dtype)
    for dim in range(len(xshape)):
        for n in (1, 3, 2 * xshape[dim] + 1):
            index = rng.integers(0, xshape[dim], size=n)
            out_shape = list(xshape)
            out_shape[dim] = n
            out = poisoned(tuple(out_shape), dtype)
            _C.index_select(impl(x), dim, impl(index), impl(out))
            assert np.array_equal(out, np.take(x, index, axis=dim))


def test_index_select_embedding(rng):
    table = rng.standard_normal((1000, 65)).astype(np.float32)
    tokens = rng.integers(0, 1000, size=4097)
    out = poisoned((4097, 65), np.float32)
    _C.index_select(impl(table), 0, impl(tokens), impl(out))
    assert np.array_equal(out, table[tokens])


def test_empty_index_writes_nothing(rng):
    # An empty index gives an empty result: no element read out of bounds, none written. The
    # empty outputs are views at the start of poisoned buffers, which must stay poisoned.
    x = rng.standard_normal((4, 3)).astype(np.float32)
    x_before = x.copy()
    none = np.zeros(0, np.int64)
    buf = poisoned((4, 3), np.float32)
    _C.index_select(impl(x), 0, impl(none), impl(buf[:0]))
    _C.gather(impl(x), 1, impl(np.zeros((4, 0), np.int64)), impl(buf[:, :0]))
    assert np.all(np.isnan(buf))
    out = rng.standard_normal((4, 3)).astype(np.float32)
    expected = out.copy()
    _C.index_add(impl(out), 0, impl(none), impl(np.zeros((0, 3), np.float32)))
    _C.scatter_add(impl(out), 1, impl(np.zeros((4, 0), np.int64)), impl(buf[:, :0]))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("xshape", [(7,), (5, 3), (4, 17, 3), (2, 3, 1100)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_index_add_every_dim(rng, xshape, dtype):
    for dim in range(len(xshape)):
        n = 3 * xshape[dim] + 2  # forces duplicates
        index = rng.integers(0, xshape[dim], size=n)
        src_shape = list(xshape)
        src_shape[dim] = n
        src = random_values(rng, tuple(src_shape), dtype)
        base = random_values(rng, xshape, dtype)
        out = base.copy()
        _C.index_add(impl(out), dim, impl(index), impl(src))
        ref = base.astype(np.float64)
        moved = np.moveaxis(ref, dim, 0)  # a view: add.at writes through to ref
        np.add.at(moved, index, np.moveaxis(src.astype(np.float64), dim, 0))
        if dtype == np.float32:
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)


def test_index_add_duplicate_order_is_sequential():
    # float32 rounding reveals the order: 1e8 + 1 + 1 ... in position order.
    out = np.zeros(1, np.float32)
    src = np.array([1e8, 1.0, 1.0, 1.0, 1.0, -1e8], np.float32)
    _C.index_add(impl(out), 0, impl(np.zeros(6, np.int64)), impl(src))
    expected = np.float32(0)
    for v in src:
        expected = np.float32(expected + v)
    assert out[0] == expected


def test_index_add_deterministic_threads(rng):
    tokens = rng.integers(0, 30, size=5000)
    grad = rng.standard_normal((5000, 2100)).astype(np.float32)
    results = []
    previous = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            out = np.zeros((30, 2100), np.float32)
            _C.index_add(impl(out), 0, impl(tokens), impl(grad))
            results.append(out)
    finally:
        _C.set_num_threads(previous)
    assert np.array_equal(results[0], results[1])


def test_index_select_add_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(
        IndexError,
        match=r"ember\.index_select: index 4 is out of bounds for "
        r"dimension 0 with size 4",
    ):
        _C.index_select(impl(x), 0, impl(np.array([0, 4])), impl(np.zeros((2, 3), np.float32)))
    out = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match=r"ember\.index_add: index -2 is out of bounds"):
        _C.index_add(impl(out), 0, impl(np.array([1, -2])), impl(np.ones((2, 3), np.float32)))
    assert np.all(out == 0)
    with pytest.raises(TypeError, match=r"ember\.index_select: expected index of dtype int64"):
        _C.index_select(
            impl(x), 0, impl(np.array([0], np.int32)), impl(np.zeros((1, 3), np.float32))
        )
    with pytest.raises(TypeError, match=r"ember\.index_add: unsupported dtype int8"):
        _C.index_add(
            impl(x.astype(np.int8)), 0, impl(np.array([0])), impl(np.zeros((1, 3), np.int8))
        )
    with pytest.raises(ValueError, match=r"ember\.index_select: index must be 1-D"):
        _C.index_select(
            impl(x), 0, impl(np.zeros((1, 1), np.int64)), impl(np.zeros((1, 3), np.float32))
        )
    with pytest.raises(
        ValueError, match=r"ember\.index_select: out has shape \(2, 3\), expected \(1, 3\)"
    ):
        _C.index_select(impl(x), 0, impl(np.array([0])), impl(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"ember\.index_add: dim -1 is negative"):
        _C.index_add(impl(out), -1, impl(np.array([0])), impl(np.zeros((4, 1), np.float32)))
    with pytest.raises(TypeError, match=r"ember\.index_add: dtypes differ"):
        _C.index_add(impl(out), 0, impl(np.array([0])), impl(np.zeros((1, 3), np.float64)))
