"""group_norm / GroupNorm, kl_div / KLDivLoss, adaptive_max_pool2d and Upsample against
torch, with gradients."""

import numpy as np
import pytest
import torch.nn as tnn
import torch.nn.functional as TF
from torch_compare import compare, randn, torch

import ember
import ember.nn as nn
import ember.nn.functional as F


@pytest.mark.parametrize(("shape", "groups"), [((2, 6, 5), 3), ((3, 4, 3, 3), 2), ((2, 4), 4)])
def test_group_norm(shape, groups):
    c = shape[1]
    compare(
        lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3),
        lambda x, w, b: TF.group_norm(x, groups, w, b, eps=1e-3),
        [randn(*shape) * 3 + 1, randn(c, seed=1), randn(c, seed=2)],
        atol=1e-9,
    )
    compare(lambda x: F.group_norm(x, groups), lambda x: TF.group_norm(x, groups),
            [randn(*shape)], atol=1e-9)  # fmt: skip


def test_group_norm_module():
    e, t = nn.GroupNorm(2, 4), tnn.GroupNorm(2, 4)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    x = randn(2, 4, 3).astype(np.float32)
    np.testing.assert_allclose(
        e(ember.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-5
    )
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="groups"):
        F.group_norm(ember.zeros(2, 4, 3), 3)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), 4))
    q = np.random.default_rng(1).dirichlet(np.ones(5), 4)
    target = np.log(q + 1e-3) if log_target else q
    compare(
        lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
        lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
        [logp, target],
    )
    e = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    t = tnn.KLDivLoss(reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(
        e(ember.tensor(logp), ember.tensor(target)).numpy(),
        t(torch.tensor(logp), torch.tensor(target)).numpy(),
        rtol=1e-12,
    )


def test_kl_div_zero_target():
    # xlogy: a zero target contributes 0 (torch's target gradient there is NaN, ember's
    # finite, so only the input gradient is compared)
    logp = np.log(np.full((2, 3), 1 / 3))
    q = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    compare(
        lambda a: F.kl_div(a, ember.tensor(q), reduction="batchmean"),
        lambda a: TF.kl_div(a, torch.tensor(q), reduction="batchmean"),
        [logp],
    )


def test_kl_div_errors():
    with pytest.raises(ValueError, match="batchmean"):
        F.kl_div(ember.zeros(2, 3), ember.zeros(2, 3), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.KLDivLoss(reduction="avg")


@pytest.mark.parametrize(
    ("shape", "size"), [((2, 3, 7, 9), (3, 4)), ((3, 5, 5), 2), ((1, 2, 6, 6), (None, 4))]
)
def test_adaptive_max_pool2d(shape, size):
    x = randn(*shape)
    compare(
        lambda a: F.adaptive_max_pool2d(a, size),
        lambda a: TF.adaptive_max_pool2d(a, size),
        [x],
    )
    ev, ei = F.adaptive_max_pool2d(ember.tensor(x), size, return_indices=True)
    tv, ti = TF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    np.testing.assert_array_equal(
        nn.AdaptiveMaxPool2d(size)(ember.tensor(x)).numpy(),
        tnn.AdaptiveMaxPool2d(size)(torch.tensor(x)).numpy(),
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"scale_factor": 2},
        {"size": (5, 7)},
        {"scale_factor": 2, "mode": "bilinear"},
        {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True},
    ],
)
def test_upsample(kw):
    compare(lambda a: nn.Upsample(**kw)(a), lambda a: tnn.Upsample(**kw)(a), [randn(2, 3, 4, 4)])


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((2, 3, 6, 7), {"kernel_size": 3}),
        ((1, 2, 8, 8), {"kernel_size": (2, 3), "stride": 2, "padding": 1}),
        ((2, 2, 9, 7), {"kernel_size": 2, "dilation": (2, 1), "stride": (1, 2)}),
        ((3, 5, 5), {"kernel_size": 5, "padding": (0, 2)}),
    ],
)
def test_unfold(shape, kw):
    compare(lambda a: F.unfold(a, **kw), lambda a: TF.unfold(a, **kw), [randn(*shape)])


def test_unfold_errors():
    with pytest.raises(ValueError, match="does not fit"):
        F.unfold(ember.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="3-D"):
        F.unfold(ember.zeros(2, 2), 1)
