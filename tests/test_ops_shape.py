"""cat/stack/split/chunk/unbind through the Tensor API, with gradchecks."""

import numpy as np

import ember
from ember.autograd import gradcheck


def test_cat_stack_split_chunk(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    got = ember.cat([ember.tensor(a), ember.tensor(b)], dim=1)
    np.testing.assert_array_equal(got.numpy(), np.concatenate([a, b], 1))
    s = ember.stack([ember.tensor(a), ember.tensor(a * 2)], dim=1)
    np.testing.assert_array_equal(s.numpy(), np.stack([a, a * 2], 1))
    x = ember.arange(10)
    assert [p.tolist() for p in x.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [p.numel() for p in x.split([2, 8])] == [2, 8]
    assert [p.numel() for p in x.chunk(3)] == [4, 4, 2]
    assert [p.tolist() for p in ember.tensor([[1, 2], [3, 4]]).unbind(1)] == [[1, 3], [2, 4]]
    mixed = ember.cat([ember.ones(2, dtype=ember.int64), ember.ones(1)])
    assert mixed.dtype is ember.float32
    ta = ember.tensor(a, requires_grad=True)
    tb = ember.tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: ember.cat([x, y * 2, x], 1), (ta, tb))
    assert gradcheck(lambda x: ember.stack([x, x * 3], 0), (ta,))
    assert gradcheck(lambda x: x.split([1, 2], 1)[1] * 2, (ta,))
    assert gradcheck(lambda x: x.chunk(2, 0)[0] + 1, (ta,))
