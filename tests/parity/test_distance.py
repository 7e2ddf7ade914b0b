"""cdist and cosine_similarity against torch, with gradients."""

import numpy as np
import pytest
import torch.nn.functional as TF
from torch_compare import compare, randn, torch

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf"), 0.5])
@pytest.mark.parametrize(("s1", "s2"), [((5, 3), (4, 3)), ((2, 6, 4), (1, 7, 4))])
def test_cdist_small(p, s1, s2):
    compare(lambda a, b: ember.cdist(a, b, p=p), lambda a, b: torch.cdist(a, b, p=p),
            [randn(*s1), randn(*s2, seed=1)])  # fmt: skip


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist"])
def test_cdist_matmul_expansion(mode):
    # more than 25 rows: torch (and ember) switch to |a|^2 + |b|^2 - 2ab
    a, b = randn(30, 8), randn(27, 8, seed=1)
    compare(
        lambda x, y: ember.cdist(x, y, compute_mode=mode),
        lambda x, y: torch.cdist(x, y, compute_mode=mode),
        [a, b],
        atol=1e-9,
        rtol=1e-7,
    )


def test_cdist_zero_distance_gradient_is_finite():
    a = randn(3, 4)
    x = ember.tensor(a, requires_grad=True)
    ember.cdist(x, ember.tensor(a)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    t = torch.tensor(a, requires_grad=True)
    torch.cdist(t, torch.tensor(a)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-10)


def test_cdist_errors():
    with pytest.raises(ValueError, match="columns"):
        ember.cdist(ember.zeros(2, 3), ember.zeros(2, 4))
    with pytest.raises(ValueError, match="p must be"):
        ember.cdist(ember.zeros(2, 3), ember.zeros(2, 3), p=-1)


@pytest.mark.parametrize(
    ("s1", "s2", "dim"), [((4, 5), (4, 5), 1), ((3, 1, 6), (1, 4, 6), -1), ((2, 7), (7,), -1)]
)
def test_cosine_similarity(s1, s2, dim):
    compare(
        lambda a, b: F.cosine_similarity(a, b, dim=dim),
        lambda a, b: TF.cosine_similarity(a, b, dim=dim),
        [randn(*s1), randn(*s2, seed=1)],
    )
    compare(
        lambda a, b: ember.cosine_similarity(a, b, dim),
        lambda a, b: torch.cosine_similarity(a, b, dim),
        [randn(*s1), randn(*s2, seed=1)],
    )


def test_cosine_similarity_zero_vector():
    a = np.zeros((2, 3))
    b = randn(2, 3)
    compare(F.cosine_similarity, TF.cosine_similarity, [a, b])
