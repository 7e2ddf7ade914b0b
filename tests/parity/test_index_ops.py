"""scatter / scatter_ / masked_select against torch, with gradients."""

import numpy as np
import pytest
from torch_compare import compare, randn, torch

import ember


def perm_index(shape, dim, size, seed=0):
    """An index of ``shape`` whose entries along dim are distinct (a scatter without
    duplicates, where torch's result is defined)."""
    rng = np.random.default_rng(seed)
    moved = np.moveaxis(np.empty(shape, np.int64), dim, -1)
    flat = moved.reshape(-1, shape[dim])
    for row in flat:
        row[:] = rng.permutation(size)[: shape[dim]]
    return np.moveaxis(flat.reshape(moved.shape), -1, dim)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src(dim):
    x = randn(4, 5, 3)
    idx_shape = [3, 4, 2]
    d = dim % 3
    idx_shape[d] = min(idx_shape[d], x.shape[d])
    index = perm_index(tuple(idx_shape), d, x.shape[d])
    src = randn(*idx_shape, seed=1)
    compare(
        lambda a, s: ember.scatter(a, dim, ember.tensor(index), s),
        lambda a, s: torch.scatter(a, dim, torch.tensor(index), s),
        [x, src],
    )
    # a src larger than index: only its leading part is read (torch's backward refuses
    # this shape, ember's pads the src gradient with zeros)
    big = randn(4, 5, 3, seed=1)
    compare(
        lambda a, s: ember.scatter(a, dim, ember.tensor(index), s),
        lambda a, s: torch.scatter(a, dim, torch.tensor(index), s),
        [x, big],
        grad=False,
    )
    s = ember.tensor(big, requires_grad=True)
    ember.scatter(ember.tensor(x), dim, ember.tensor(index), s).sum().backward()
    assert s.grad.numpy().sum() == index.size and s.grad.shape == big.shape
    compare(
        lambda a, s: a.scatter(dim, ember.tensor(index), s),
        lambda a, s: a.scatter(dim, torch.tensor(index), s),
        [x, src],
    )


def test_scatter_value_and_inplace():
    x = randn(3, 6)
    index = perm_index((3, 2), 1, 6)
    compare(
        lambda a: ember.scatter(a, 1, ember.tensor(index), value=-2.5),
        lambda a: torch.scatter(a, 1, torch.tensor(index), value=-2.5),
        [x],
    )
    compare(
        lambda a: (a * 1.0).scatter_(1, ember.tensor(index), 7.0),
        lambda a: (a * 1.0).scatter_(1, torch.tensor(index), 7.0),
        [x],
    )
    e, t = ember.tensor(x), torch.tensor(x)
    e.scatter_(1, ember.tensor(index), ember.ones(3, 2, dtype=ember.float64))
    t.scatter_(1, torch.tensor(index), torch.ones(3, 2, dtype=torch.float64))
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.filterwarnings("ignore:The reduce argument")
def test_scatter_add_reduce_and_duplicates():
    x = randn(2, 4)
    index = np.array([[0, 0, 3], [1, 1, 1]])
    src = randn(2, 3, seed=2)
    compare(
        lambda a, s: ember.scatter(a, 1, ember.tensor(index), s, reduce="add"),
        lambda a, s: torch.scatter(a, 1, torch.tensor(index), s, reduce="add"),
        [x, src],
        grad=False,  # torch has no derivative for scatter with reduce
    )
    # duplicates: one of the written values lands (which one is unspecified in torch)
    out = ember.scatter(ember.tensor(x), 1, ember.tensor(index), ember.tensor(src)).numpy()
    assert out[0, 0] in src[0, :2] and out[1, 1] in src[1]
    np.testing.assert_array_equal(out[:, 2], x[:, 2])


def test_scatter_errors():
    x = ember.zeros(2, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        ember.scatter(x, 1, ember.tensor([[3]]), ember.ones(1, 1))
    with pytest.raises(TypeError, match="dtype"):
        ember.scatter(x, 1, ember.tensor([[0]]), ember.ones(1, 1, dtype=ember.float64))
    with pytest.raises(ValueError, match="same number of dimensions"):
        ember.scatter(x, 1, ember.tensor([0]), ember.ones(1))
    with pytest.raises(ValueError, match="reduce"):
        ember.scatter(x, 1, ember.tensor([[0]]), ember.ones(1, 1), reduce="multiply")


@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (1, 4)])
def test_masked_select(mask_shape):
    x = randn(3, 4)
    mask = np.random.default_rng(3).random(mask_shape) > 0.4
    compare(
        lambda a, m: ember.masked_select(a, m),
        lambda a, m: torch.masked_select(a, m),
        [x, mask],
    )
    compare(lambda a, m: a.masked_select(m), lambda a, m: a.masked_select(m), [x, mask])
    with pytest.raises(TypeError, match="bool"):
        ember.masked_select(ember.tensor(x), ember.tensor(mask).int())
