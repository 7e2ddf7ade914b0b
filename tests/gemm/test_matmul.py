"""ember.matmul on the packed GEMM: strided operands, empty dims, bfloat16, broadcast batches,
gradchecks."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_transposed_views_need_no_copy(ta, tb, rng, isa):
    a = rng.standard_normal((65, 33)).astype(np.float32)
    b = rng.standard_normal((33, 17)).astype(np.float32)
    ea = ember.tensor(a.T.copy()).T if ta else ember.tensor(a)
    eb = ember.tensor(b.T.copy()).T if tb else ember.tensor(b)
    assert ea.is_contiguous() != ta and eb.is_contiguous() != tb
    got = (ea @ eb).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_sliced_and_broadcast_batches(rng):
    a = rng.standard_normal((4, 10, 12)).astype(np.float32)
    b = rng.standard_normal((12, 9)).astype(np.float32)
    ea = ember.tensor(a)[:, 1:8:2, 3:]  # strided rows and an offset
    eb = ember.tensor(b)[3:]
    np.testing.assert_allclose((ea @ eb).numpy(), a[:, 1:8:2, 3:] @ b[3:], rtol=1e-5, atol=1e-5)
    w = rng.standard_normal((3, 1, 9, 5)).astype(np.float32)
    got = ember.tensor(a[:, :, :9]) @ ember.tensor(w)
    np.testing.assert_allclose(got.numpy(), a[:, :, :9] @ w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "shapes,want",
    [
        (((3, 0), (0, 4)), (3, 4)),
        (((0, 5), (5, 4)), (0, 4)),
        (((2, 0, 5), (5, 4)), (2, 0, 4)),
        (((3, 5), (5, 0)), (3, 0)),
    ],
)
def test_empty_dims(shapes, want):
    out = ember.matmul(ember.ones(*shapes[0]), ember.ones(*shapes[1]))
    assert out.shape == want
    assert not out.numpy().any()


def test_bfloat16_matmul(rng):
    a = ember.tensor(rng.standard_normal((37, 200)).astype(np.float32)).bfloat16()
    b = ember.tensor(rng.standard_normal((200, 29)).astype(np.float32)).bfloat16()
    out = a @ b
    assert out.dtype is ember.bfloat16
    ref = a.float().numpy().astype(np.float64) @ b.float().numpy().astype(np.float64)
    got = out.float().numpy()
    assert np.abs(got - ref).max() <= 2**-7 * np.abs(ref).max()
    assert (a.float() @ b.float()).dtype is ember.float32


def test_half_and_double(rng):
    a = rng.standard_normal((8, 16))
    b = rng.standard_normal((16, 4))
    np.testing.assert_allclose((ember.tensor(a) @ ember.tensor(b)).numpy(), a @ b, rtol=1e-12)
    h = ember.tensor(a).half() @ ember.tensor(b).half()
    assert h.dtype is ember.float16
    np.testing.assert_allclose(h.float().numpy(), a @ b, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 2)),
        ((2, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((1, 7), (7, 1)),
        ((17, 33), (33, 65)),
    ],
)
def test_matmul_broadcasting(sa, sb, isa, rng):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    got = ember.tensor(a) @ ember.tensor(b)
    want = a.astype(np.float64) @ b.astype(np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_matmul_gradcheck_and_transposed_inputs(rng):
    a = ember.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(ember.matmul, (a, b))
    v = ember.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(ember.matmul, (a, v))
    m = rng.standard_normal((6, 5))
    np.testing.assert_allclose((ember.tensor(m).T @ ember.tensor(m)).numpy(), m.T @ m, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (16, 16, 16), (7, 33, 5), (0, 4, 3), (2, 0, 3)])
def test_matmul_fast_path_matches_the_full_path(m, k, n, dtype, rng):
    # two matrices and nothing recorded: one kernel entry that allocates its output; the
    # same bits as the autograd path, transposed (strided) operands included
    a = ember.from_numpy(rng.standard_normal((m, k)).astype(dtype))
    b = ember.from_numpy(rng.standard_normal((n, k)).astype(dtype)).T
    fast = a @ b
    full = a.clone().requires_grad_() @ b
    assert fast.shape == (m, n) and not fast.requires_grad and fast.dtype is full.dtype
    np.testing.assert_array_equal(fast.numpy(), full.detach().numpy())
    with pytest.raises(ValueError, match="not aligned"):
        a @ ember.zeros(k + 1, 2, dtype=a.dtype)
