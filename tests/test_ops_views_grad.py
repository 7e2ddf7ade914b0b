"""Gradients through every view and indexing op (gradcheck in float64)."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck


@pytest.fixture
def x(rng):
    return ember.tensor(rng.standard_normal((3, 1, 4)), requires_grad=True)


VIEW_FNS = {
    "reshape": lambda t: t.reshape(2, 6) * 2,
    "view": lambda t: t.view(-1) * 2,
    "flatten": lambda t: t.flatten(1) * 2,
    "squeeze": lambda t: t.squeeze(1) * 2,
    "unsqueeze": lambda t: t.unsqueeze(0) * 2,
    "permute": lambda t: t.permute(2, 0, 1) * 2,
    "transpose": lambda t: t.transpose(0, 2) * 2,
    "T": lambda t: t.T * 2,
    "movedim": lambda t: t.movedim(0, -1) * 2,
    "expand": lambda t: t.expand(2, 3, 5, 4) * 2,
    "broadcast_to": lambda t: t.broadcast_to((3, 2, 4)) * 2,
    "narrow": lambda t: t.narrow(2, 1, 2) * 2,
    "slice": lambda t: t[1:, :, ::3] * 2,
    "int_index": lambda t: t[-1, 0] * 2,
    "none_ellipsis": lambda t: t[None, ..., 1] * 2,
    "tensor_index": lambda t: t[:, :, ember.tensor([3, 0, 3])] * 2,
    "list_index": lambda t: t[[2, 0]] * 2,
    "bool_mask": lambda t: t[ember.tensor([True, False, True])] * 2,
    "unbind": lambda t: t.unbind(2)[1] * 2,
    "contiguous": lambda t: t.transpose(0, 2).contiguous() * 2,
    "clone": lambda t: t.clone() * 2,
}


@pytest.mark.parametrize("name", list(VIEW_FNS))
def test_view_gradcheck(name, x):
    assert gradcheck(VIEW_FNS[name], (x,))


def test_setitem_and_index_add_gradcheck(rng):
    x = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    v = ember.tensor(rng.standard_normal(3), requires_grad=True)

    def put(a, b):
        y = a * 1
        y[1] = b
        y[2:, ::2] = b[0] * 3
        return y

    assert gradcheck(put, (x, v))
    src = ember.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    idx = ember.tensor([0, 3, 3, 1, 0])
    assert gradcheck(lambda a, s: ember.index_add(a, 0, idx, s), (x, src))


def test_views_of_views_share_one_base(x):
    v = x.detach()[1:].transpose(0, 2)[0]
    assert v._base is not None and v._base._base is None
    v2 = x.detach()
    v2.data_ptr()
    y = x.detach().clone()
    w = y[0]
    w += 1  # writes through to y
    np.testing.assert_allclose(y[0].numpy(), x.detach()[0].numpy() + 1)
