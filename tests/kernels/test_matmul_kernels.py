"""ember._C.matmul against numpy float64 on awkward shapes, batched and not."""

import ember._C as _C
import numpy as np
import pytest

F32, F64, I64 = 6, 7, 3

SHAPES = [
    (1, 1, 1, 1),
    (1, 2, 3, 7),
    (1, 16, 17, 33),
    (1, 64, 65, 127),
    (1, 200, 33, 17),
    (1, 7, 200, 65),
    (1, 127, 64, 200),
    (3, 3, 7, 2),
    (2, 33, 16, 64),
    (4, 17, 127, 3),
    (2, 65, 1, 16),
    (5, 1, 64, 1),
]


def impl(a):
    return _C.TensorImpl.from_buffer(a)


def run_matmul(a, b):
    out = np.full((a.shape[0], a.shape[1], b.shape[2]), np.nan, dtype=a.dtype)
    _C.matmul(impl(a), impl(b), impl(out))
    return out


@pytest.mark.parametrize("B,M,K,N", SHAPES)
def test_matmul_float32(isa, rng, B, M, K, N):
    a = rng.standard_normal((B, M, K)).astype(np.float32)
    b = rng.standard_normal((B, K, N)).astype(np.float32)
    out = run_matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    assert np.all(np.abs(out - ref) <= 1e-6 * np.sqrt(K) * scale + 1e-30)


@pytest.mark.parametrize("B,M,K,N", SHAPES)
def test_matmul_float64(rng, B, M, K, N):
    a = rng.standard_normal((B, M, K))
    b = rng.standard_normal((B, K, N))
    out = run_matmul(a, b)
    ref = np.einsum("bmk,bkn->bmn", a, b)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12 * np.sqrt(K))


def test_matmul_large_square(rng):
    a = rng.standard_normal((1, 257, 300)).astype(np.float32)
    b = rng.standard_normal((1, 300, 513)).astype(np.float32)
    out = run_matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.sqrt(300))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_k_zero_gives_zeros(dtype):
    a = np.empty((2, 3, 0), dtype=dtype)
    b = np.empty((2, 0, 5), dtype=dtype)
    out = run_matmul(a, b)
    assert out.shape == (2, 3, 5)
    assert np.all(out == 0)


def test_matmul_empty_m_n():
    a = np.ones((2, 0, 3), dtype=np.float32)
    b = np.ones((2, 3, 4), dtype=np.float32)
    assert run_matmul(a, b).shape == (2, 0, 4)
    b = np.ones((2, 3, 0), dtype=np.float32)
    assert run_matmul(np.ones((2, 5, 3), np.float32), b).shape == (2, 5, 0)


def test_matmul_deterministic_threads(rng):
    a = rng.standard_normal((2, 130, 300)).astype(np.float32)
    b = rng.standard_normal((2, 300, 70)).astype(np.float32)
    previous = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = run_matmul(a, b)
        _C.set_num_threads(2)
        two = run_matmul(a, b)
    finally:
        _C.set_num_threads(previous)
    assert np.array_equal(one, two)


def test_matmul_not_aligned_message():
    a = np.ones((1, 3, 4), dtype=np.float32)
    b = np.ones((1, 5, 6), dtype=np.float32)
    out = np.ones((1, 3, 6), dtype=np.float32)
    msg = r"ember\.matmul: shapes \(3, 4\) and \(5, 6\) are not aligned \(4 != 5\)"
    with pytest.raises(ValueError, match=msg):
        _C.matmul(impl(a), impl(b), impl(out))
    a2 = np.ones((2, 3, 4), dtype=np.float32)
    b2 = np.ones((2, 5, 6), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shapes \(2, 3, 4\) and \(2, 5, 6\)"):
        _C.matmul(impl(a2), impl(b2), impl(np.ones((2, 3, 6), np.float32)))


def test_matmul_errors():
    a = np.ones((2, 3, 4), dtype=np.float32)
    b = np.ones((2, 4, 5), dtype=np.float32)
    out = np.ones((2, 3, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"ember\.matmul: batch sizes differ"):
        _C.matmul(impl(a), impl(np.ones((3, 4, 5), np.float32)), impl(out))
    with pytest.raises(ValueError, match=r"ember\.matmul: out has shape \(2, 3, 4\)"):
        _C.matmul(impl(a), impl(b), impl(np.ones((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"ember\.matmul: expected 3-D"):
        _C.matmul(impl(a[0]), impl(b[0]), impl(out[0]))
    with pytest.raises(TypeError, match=r"ember\.matmul: dtypes differ"):
        _C.matmul(impl(a), impl(b.astype(np.float64)), impl(out))
    with pytest.raises(TypeError, match=r"ember\.matmul: expected float32 or float64"):
        ai = a.astype(np.int64)
        _C.matmul(impl(ai), impl(b.astype(np.int64)), impl(out.astype(np.int64)))
    at = np.ones((2, 4, 3), np.float32).transpose(0, 2, 1)
    with pytest.raises(ValueError, match=r"ember\.matmul: a of shape \(2, 3, 4\) must be contig"):
        _C.matmul(impl(at), impl(b), impl(out))
    # Nothing was written on failure.
    assert np.all(out == 1)
