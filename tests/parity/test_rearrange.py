"""tril/triu, roll, flip, repeat, tile, repeat_interleave, diag, meshgrid against torch."""

import numpy as np
import pytest
from torch_compare import compare, randn, torch

import ember


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3)])
def test_triangles(op, diagonal, shape):
    compare(
        lambda x: getattr(ember, op)(x, diagonal),
        lambda x: getattr(torch, op)(x, diagonal),
        [randn(*shape)],
    )
    compare(
        lambda x: getattr(x, op)(diagonal=diagonal),
        lambda x: getattr(x, op)(diagonal),
        [randn(*shape)],
    )


def test_triangles_in_place_and_integer():
    x = ember.ones(3, 3, dtype=ember.int64)
    assert x.tril_() is x
    np.testing.assert_array_equal(x.numpy(), np.tril(np.ones((3, 3), np.int64)))
    assert x.dtype is ember.int64
    y = ember.ones(3, 3, dtype=ember.bool)
    np.testing.assert_array_equal(ember.triu(y, 1).numpy(), np.triu(np.ones((3, 3), bool), 1))
    with pytest.raises(ValueError, match="ember.tril"):
        ember.tril(ember.ones(3))


def test_causal_mask_habit():
    # nanoGPT: torch.tril(torch.ones(T, T)).view(1, 1, T, T) then masked_fill(mask == 0, -inf)
    mask = ember.tril(ember.ones(4, 4)).view(1, 1, 4, 4)
    att = ember.zeros(1, 1, 4, 4).masked_fill(mask[:, :, :4, :4] == 0, float("-inf"))
    ref = torch.zeros(1, 1, 4, 4).masked_fill(
        torch.tril(torch.ones(4, 4)).view(1, 1, 4, 4) == 0, float("-inf")
    )
    np.testing.assert_array_equal(att.numpy(), ref.numpy())


@pytest.mark.parametrize(
    ("shifts", "dims"), [(1, None), (-3, None), (2, 0), (1, -1), ((1, -2), (0, 1)), (7, 1), (0, 1)]
)
def test_roll(shifts, dims):
    compare(
        lambda x: ember.roll(x, shifts, dims), lambda x: torch.roll(x, shifts, dims), [randn(3, 4)]
    )


@pytest.mark.parametrize("dims", [0, 1, (0, 2), (-1,)])
def test_flip(dims):
    compare(
        lambda x: ember.flip(x, dims),
        lambda x: torch.flip(x, dims if isinstance(dims, tuple) else (dims,)),
        [randn(2, 3, 4)],
    )
    compare(ember.fliplr, torch.fliplr, [randn(2, 3)])
    compare(ember.flipud, torch.flipud, [randn(2, 3)])


@pytest.mark.parametrize("sizes", [(2, 3), (1, 1), (2, 1, 3), (0, 2)])
def test_repeat_and_tile(sizes):
    compare(lambda x: x.repeat(*sizes), lambda x: x.repeat(*sizes), [randn(2, 3)])
    compare(lambda x: ember.tile(x, sizes), lambda x: torch.tile(x, sizes), [randn(2, 3)])
    compare(lambda x: ember.tile(x, (2,)), lambda x: torch.tile(x, (2,)), [randn(2, 3)])


def test_repeat_interleave():
    compare(
        lambda x: ember.repeat_interleave(x, 2, 1),
        lambda x: torch.repeat_interleave(x, 2, 1),
        [randn(2, 3)],
    )
    compare(lambda x: x.repeat_interleave(3), lambda x: x.repeat_interleave(3), [randn(2, 3)])
    reps = [1, 0, 2]
    compare(
        lambda x: ember.repeat_interleave(x, ember.tensor(reps), dim=1),
        lambda x: torch.repeat_interleave(x, torch.tensor(reps), dim=1),
        [randn(2, 3)],
    )
    np.testing.assert_array_equal(
        ember.repeat_interleave(ember.tensor([2, 1])).numpy(),
        torch.repeat_interleave(torch.tensor([2, 1])).numpy(),
    )
    with pytest.raises(ValueError, match="repeat_interleave"):
        ember.repeat_interleave(ember.ones(3), ember.tensor([1, 2]))


@pytest.mark.parametrize("k", [-2, 0, 1])
def test_diag(k):
    compare(lambda x: ember.diag(x, k), lambda x: torch.diag(x, k), [randn(3)])
    compare(lambda x: ember.diag(x, k), lambda x: torch.diag(x, k), [randn(3, 4)])


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    compare(
        lambda a, b, c: ember.meshgrid(a, b, c, indexing=indexing),
        lambda a, b, c: torch.meshgrid(a, b, c, indexing=indexing),
        [randn(2), randn(3, seed=1), randn(4, seed=2)],
    )


def test_numel():
    assert ember.numel(ember.ones(2, 3)) == 6
