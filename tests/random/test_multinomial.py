"""multinomial (with and without replacement), bernoulli, Tensor.uniform_/normal_."""

import numpy as np
import pytest

import ember


def test_with_replacement_frequencies():
    w = ember.tensor([[1.0, 2.0, 0.0, 5.0], [0.0, 0.0, 3.0, 1.0]])
    s = ember.multinomial(w, 20000, replacement=True, generator=ember.Generator(1))
    assert s.shape == (2, 20000) and s.dtype is ember.int64
    for row, probs in zip(s.numpy(), [[1 / 8, 2 / 8, 0, 5 / 8], [0, 0, 0.75, 0.25]]):
        freq = np.bincount(row, minlength=4) / row.size
        np.testing.assert_allclose(freq, probs, atol=0.015)


def test_without_replacement_is_sequential_draws():
    # P(first = i) = w_i / sum(w); P(second = j | first = i) = w_j / (sum - w_i)
    w = ember.tensor([1.0, 2.0, 3.0, 4.0])
    g = ember.Generator(3)
    firsts, pairs = [], {}
    for _ in range(4000):
        a, b = ember.multinomial(w, 2, generator=g).tolist()
        assert a != b
        firsts.append(a)
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    np.testing.assert_allclose(
        np.bincount(firsts, minlength=4) / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.025
    )
    p_3_then_2 = 0.4 * 3 / 6
    assert abs(pairs[(3, 2)] / 4000 - p_3_then_2) < 0.03


def test_zero_weights_come_last_and_permutation():
    s = ember.multinomial(ember.tensor([0.0, 1.0, 0.0]), 3).tolist()
    assert s[0] == 1 and sorted(s) == [0, 1, 2]
    torch = pytest.importorskip("torch")
    assert torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 3).tolist()[0] == 1


def test_reproducible_with_seed():
    w = ember.rand(3, 10)
    ember.manual_seed(7)
    a = ember.multinomial(w, 5)
    ember.manual_seed(7)
    b = w.multinomial(5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    ("weights", "n", "replacement", "match"),
    [
        ([-1.0, 2.0], 1, True, "non-negative"),
        ([float("inf"), 2.0], 1, True, "finite"),
        ([float("nan"), 2.0], 1, False, "finite"),
        ([0.0, 0.0], 1, True, "sums to 0"),
        ([1.0, 2.0], 3, False, "without replacement"),
        ([1.0, 2.0], 0, True, "positive"),
    ],
)
def test_errors(weights, n, replacement, match):
    with pytest.raises(ValueError, match=match):
        ember.multinomial(ember.tensor(weights), n, replacement)
    with pytest.raises(TypeError, match="ember.multinomial"):
        ember.multinomial(ember.tensor([1, 2]), 1)


def test_fill_methods_and_bernoulli():
    x = ember.empty(20000)
    assert x.uniform_(-2.0, 3.0) is x
    a = x.numpy()
    assert a.min() >= -2.0 and a.max() < 3.0 and abs(a.mean() - 0.5) < 0.05
    x.normal_(1.0, 2.0)
    assert abs(x.numpy().mean() - 1.0) < 0.05 and abs(x.numpy().std() - 2.0) < 0.05
    b = ember.bernoulli(ember.full((20000,), 0.3))
    assert set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(b.numpy().mean() - 0.3) < 0.02
    p = ember.nn.Parameter(ember.zeros(3))
    with pytest.raises(RuntimeError, match="uniform_|copy_"):
        p.uniform_()
    with ember.no_grad():
        p.uniform_()
