"""gather/scatter_add, index_select/index_add, embedding and one_hot through the Tensor API,
with gradchecks."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_gather_and_scatter_add(dim, rng):
    a = rng.standard_normal((4, 5, 6))
    shape = [3, 4, 5]
    idx = rng.integers(0, a.shape[dim], shape)
    got = ember.gather(ember.tensor(a), dim, ember.tensor(idx))
    cropped = a[tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(shape))]
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(cropped, idx, dim))
    t = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda x: x.gather(dim, ember.tensor(idx)), (t,))
    src = rng.standard_normal(shape)
    out = ember.scatter_add(ember.tensor(a), dim, ember.tensor(idx), ember.tensor(src))
    want = a.copy()
    for pos in np.ndindex(*shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        want[tuple(tgt)] += src[pos]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)
    ts = ember.tensor(src, requires_grad=True)
    assert gradcheck(lambda x, s: ember.scatter_add(x, dim, ember.tensor(idx), s), (t, ts))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_and_index_add(dim, rng):
    a = rng.standard_normal((4, 5, 3))
    idx = np.array([2, 0, 2, 1])
    got = ember.tensor(a).index_select(dim, ember.tensor(idx))
    np.testing.assert_array_equal(got.numpy(), np.take(a, idx, axis=dim))
    t = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda x: x.index_select(dim, ember.tensor(idx)), (t,))
    src = rng.standard_normal(got.shape)
    out = ember.index_add(ember.tensor(a), dim, ember.tensor(idx), ember.tensor(src))
    want = a.copy()
    np.add.at(want, (slice(None),) * (dim % 3) + (idx,), src)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)


def test_embedding_and_one_hot(rng):
    w = rng.standard_normal((10, 4))
    idx = np.array([[1, 3, 3], [0, 9, 1]])
    out = ember.embedding(ember.tensor(idx), ember.tensor(w))
    np.testing.assert_array_equal(out.numpy(), w[idx])
    tw = ember.tensor(w, requires_grad=True)
    assert gradcheck(lambda x: ember.embedding(ember.tensor(idx), x) * 2, (tw,))
    ember.embedding(ember.tensor(idx), tw, padding_idx=3).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=10).astype(float)
    counts[3] = 0
    np.testing.assert_array_equal(tw.grad.numpy(), np.repeat(counts[:, None], 4, 1))
    oh = ember.one_hot(ember.tensor([0, 2, 1]), 4)
    assert oh.dtype is ember.int64
    assert oh.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert ember.one_hot(ember.tensor([[2]])).shape == (1, 1, 3)
    with pytest.raises(ValueError, match="out of range"):
        ember.one_hot(ember.tensor([5]), 3)
