"""sort/argsort/msort/topk/kthvalue against torch (distinct values: torch's order among
ties is unspecified)."""

import numpy as np
import pytest
from torch_compare import compare, torch

import ember


def distinct(*shape, seed=0):
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(dim, descending):
    compare(
        lambda x: ember.sort(x, dim, descending),
        lambda x: torch.sort(x, dim, descending),
        [distinct(3, 5, 4)],
    )
    compare(
        lambda x: ember.argsort(x, dim, descending),
        lambda x: torch.argsort(x, dim, descending),
        [distinct(3, 5, 4)],
        grad=False,
    )


def test_sort_stable_with_ties_and_nan():
    x = [3.0, 1.0, float("nan"), 1.0, 3.0, 2.0]
    for desc in (False, True):
        e = ember.sort(ember.tensor(x), descending=desc, stable=True)
        t = torch.sort(torch.tensor(x), descending=desc, stable=True)
        np.testing.assert_array_equal(e.indices.numpy(), t.indices.numpy())
        np.testing.assert_array_equal(e.values.numpy(), t.values.numpy())
    xi = [3, 1, 2, 1]
    np.testing.assert_array_equal(
        ember.argsort(ember.tensor(xi), descending=True, stable=True).numpy(),
        torch.argsort(torch.tensor(xi), descending=True, stable=True).numpy(),
    )
    compare(ember.msort, torch.msort, [distinct(4, 3)])


@pytest.mark.parametrize("k", [1, 3, 40])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [-1, 0])
def test_topk(k, largest, dim):
    x = distinct(40, 50)
    compare(
        lambda x: ember.topk(x, k, dim, largest),
        lambda x: torch.topk(x, k, dim, largest),
        [x],
    )
    r = ember.topk(ember.tensor(x), k, dim, largest)
    assert r.values is r[0] and r.indices is r[1]


def test_topk_generate_habit():
    # nanoGPT: v, _ = torch.topk(logits, k); logits[logits < v[:, [-1]]] = -inf
    logits = distinct(2, 65)
    e, t = ember.tensor(logits), torch.tensor(logits)
    v, _ = ember.topk(e, 5)
    e[e < v[:, [-1]]] = -float("inf")
    tv, _ = torch.topk(t, 5)
    t[t < tv[:, [-1]]] = -float("inf")
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_topk_errors():
    with pytest.raises(ValueError, match="ember.topk"):
        ember.topk(ember.ones(3), 4)
    with pytest.raises(TypeError, match="ember.topk"):
        ember.topk(ember.ones(3), 1.5)


@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue(keepdim):
    compare(
        lambda x: ember.kthvalue(x, 2, 1, keepdim),
        lambda x: torch.kthvalue(x, 2, 1, keepdim),
        [distinct(3, 5)],
    )
