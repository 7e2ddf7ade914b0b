"""bmm, baddbmm, addmm, addmv, outer, dot, einsum, norms, F.normalize against torch."""

import math

import numpy as np
import pytest
import torch.nn.functional as TF
from torch_compare import compare, randn, torch

import ember
import ember.nn.functional as F


def test_products():
    compare(ember.bmm, torch.bmm, [randn(2, 3, 4), randn(2, 4, 5, seed=1)])
    compare(lambda a, b: a.bmm(b), lambda a, b: a.bmm(b), [randn(2, 3, 4), randn(2, 4, 5, seed=1)])
    compare(ember.outer, torch.outer, [randn(3), randn(4, seed=1)])
    compare(ember.dot, torch.dot, [randn(5), randn(5, seed=1)])
    compare(
        lambda c, a, b: ember.addmm(c, a, b, beta=0.5, alpha=2.0),
        lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0),
        [randn(4), randn(3, 2, seed=1), randn(2, 4, seed=2)],
    )
    compare(ember.addmm, torch.addmm, [randn(3, 4), randn(3, 2, seed=1), randn(2, 4, seed=2)])
    compare(
        lambda c, a, b: ember.baddbmm(c, a, b, beta=0.0, alpha=0.5),
        lambda c, a, b: torch.baddbmm(c, a, b, beta=0.0, alpha=0.5),
        [randn(2, 3, 4), randn(2, 3, 2, seed=1), randn(2, 2, 4, seed=2)],
    )
    compare(ember.addmv, torch.addmv, [randn(3), randn(3, 2, seed=1), randn(2, seed=2)])
    with pytest.raises(ValueError, match="ember.bmm"):
        ember.bmm(ember.ones(2, 3, 4), ember.ones(3, 4, 5))


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("bi,bi->b", [(3, 4), (3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("bij,jk->bik", [(1, 3, 4), (4, 5)]),
]


@pytest.mark.parametrize(("eq", "shapes"), EINSUM)
def test_einsum(eq, shapes):
    arrays = [randn(*s, seed=i) for i, s in enumerate(shapes)]
    compare(lambda *xs: ember.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), arrays)


def test_einsum_errors():
    with pytest.raises(ValueError, match="ember.einsum"):
        ember.einsum("ii->i", ember.ones(3, 3))
    with pytest.raises(ValueError, match="ember.einsum"):
        ember.einsum("ij,jk->ik", ember.ones(3, 3))


@pytest.mark.parametrize("p", [2, 1, 3, math.inf, -math.inf, 0])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_norms(p, dim):
    x = randn(3, 4, 5)
    compare(
        lambda t: ember.norm(t, p, dim), lambda t: torch.norm(t, p, dim), [x], grad=p not in (0,)
    )
    compare(lambda t: t.norm(), lambda t: t.norm(), [x])


def test_norm_gradient_at_zero_is_zero():
    x = ember.zeros(3, requires_grad=True)
    ember.norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


@pytest.mark.parametrize(("p", "dim"), [(2.0, 1), (1.0, -1), (2.0, 0)])
def test_normalize(p, dim):
    x = randn(4, 5)
    x[1] = 0.0
    compare(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), [x])
