"""LayerNorm / RMSNorm / Embedding / Dropout / activation modules vs float64 numpy."""

import numpy as np
import pytest
from transformer_ref import layer_norm, randomize, rms_norm

import ember
import ember.nn as nn
import ember.nn.functional as F


def _t(a, grad=False):
    return ember.tensor(np.asarray(a, dtype=np.float32), requires_grad=grad)


# ---- LayerNorm / RMSNorm --------------------------------------------------------------
@pytest.mark.parametrize("shape,ns", [((4, 7), 7), ((2, 3, 5), (3, 5)), ((1, 1), 1), ((3, 33), 33)])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
def test_layer_norm_module(rng, shape, ns, affine, bias):
    m = nn.LayerNorm(ns, eps=1e-5, elementwise_affine=affine, bias=bias)
    names = [n for n, _ in m.named_parameters()]
    assert names == (["weight", "bias"] if affine and bias else ["weight"] if affine else [])
    if affine:
        assert np.all(np.asarray(m.weight.detach()) == 1.0)
        randomize(m, rng)
    x = rng.standard_normal(shape) * 3 + 1
    y = m(_t(x))
    p = {k: np.asarray(v, dtype=np.float64) for k, v in m.state_dict().items()}
    nd = 1 if isinstance(ns, int) else len(ns)
    ref = layer_norm(x, p.get("weight"), p.get("bias"), 1e-5, nd)
    np.testing.assert_allclose(np.asarray(y.detach()), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("eps", [None, 1e-6])
@pytest.mark.parametrize("shape", [(5, 16), (2, 3, 17)])
def test_rms_norm_module(rng, eps, shape):
    m = nn.RMSNorm(shape[-1], eps=eps)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    randomize(m, rng)
    x = rng.standard_normal(shape)
    y = m(_t(x))
    ref = rms_norm(x, np.asarray(m.weight.detach(), dtype=np.float64), eps)
    np.testing.assert_allclose(np.asarray(y.detach()), ref, rtol=1e-4, atol=1e-5)
    assert nn.RMSNorm(4, elementwise_affine=False).weight is None


def test_norm_gradients_reach_parameters(rng):
    for m in (nn.LayerNorm(6), nn.RMSNorm(6)):
        x = _t(rng.standard_normal((3, 6)), grad=True)
        (m(x) * _t(rng.standard_normal((3, 6)))).sum().backward()
        assert x.grad is not None
        for _, p in m.named_parameters():
            assert p.grad is not None and np.abs(np.asarray(p.grad)).sum() > 0


def test_norm_bad_arguments():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.RMSNorm(())
    with pytest.raises(ValueError):
        nn.LayerNorm(5)(ember.randn(3, 4))


# ---- Embedding ------------------------------------------------------------------------
@pytest.mark.parametrize("n,d", [(1, 1), (7, 3), (65, 33)])
def test_embedding_lookup(rng, n, d):
    m = nn.Embedding(n, d)
    idx = rng.integers(0, n, size=(4, 5))
    y = m(ember.tensor(idx))
    w = np.asarray(m.weight.detach())
    assert y.shape == (4, 5, d)
    np.testing.assert_array_equal(np.asarray(y.detach()), w[idx])


def test_embedding_init_is_standard_normal():
    ember.manual_seed(3)
    w = np.asarray(nn.Embedding(1000, 64).weight.detach(), dtype=np.float64)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02
    ember.manual_seed(3)
    np.testing.assert_array_equal(np.asarray(nn.Embedding(1000, 64).weight.detach()), w)


def test_embedding_gradient_and_padding(rng):
    m = nn.Embedding(6, 4, padding_idx=2)
    w = np.asarray(m.weight.detach())
    assert np.all(w[2] == 0)
    idx = np.array([[0, 2, 5, 0], [2, 1, 1, 3]])
    g = rng.standard_normal((2, 4, 4))
    (m(ember.tensor(idx)) * _t(g)).sum().backward()
    ref = np.zeros((6, 4))
    for (i, j), k in np.ndenumerate(idx):
        if k != 2:
            ref[k] += g[i, j]
    np.testing.assert_allclose(np.asarray(m.weight.grad), ref, rtol=1e-5, atol=1e-6)
    assert nn.Embedding(6, 4, padding_idx=-1).padding_idx == 5


def test_embedding_from_pretrained_and_errors(rng):
    w = rng.standard_normal((5, 3)).astype(np.float32)
    m = nn.Embedding.from_pretrained(ember.tensor(w))
    assert not m.weight.requires_grad
    np.testing.assert_array_equal(np.asarray(m(ember.tensor([4, 0])).detach()), w[[4, 0]])
    with pytest.raises(ValueError, match="num_embeddings"):
        nn.Embedding(0, 3)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 3, padding_idx=4)
    with pytest.raises(TypeError):
        m(ember.tensor([0.5, 1.0]))


# ---- Dropout --------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_statistics(p):
    ember.manual_seed(0)
    n = 100003
    x = ember.ones(n) * 2.0
    y = np.asarray(F.dropout(x, p))
    dropped = y == 0
    # keep rate within 5 standard deviations of 1 - p
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[~dropped], 2.0 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 2.0) < 0.1


def test_dropout_determinism_and_threads():
    x = ember.randn(3, 1000, 7)
    ember.manual_seed(42)
    a = np.asarray(F.dropout(x, 0.3))
    ember.manual_seed(42)
    prev = ember.get_num_threads()
    ember.set_num_threads(1)
    try:
        b = np.asarray(F.dropout(x, 0.3))
    finally:
        ember.set_num_threads(prev)
    np.testing.assert_array_equal(a, b)
    c = np.asarray(F.dropout(x, 0.3))  # the stream moved on: another mask
    assert not np.array_equal(a, c)


def test_dropout_gradient_is_masked(rng):
    x = _t(rng.standard_normal((33, 17)), grad=True)
    ember.manual_seed(1)
    y = F.dropout(x, 0.4)
    g = rng.standard_normal((33, 17))
    (y * _t(g)).sum().backward()
    yv = np.asarray(y.detach())
    mask = (yv != 0) / 0.6
    np.testing.assert_allclose(yv, np.asarray(x.detach()) * mask, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x.grad), g * mask, rtol=1e-5, atol=1e-7)


def test_dropout_module_train_eval_and_edge_cases(rng):
    m = nn.Dropout(0.5)
    x = _t(rng.standard_normal((8, 9)))
    assert m.training and not np.array_equal(np.asarray(m(x)), np.asarray(x))
    m.eval()
    np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.0)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.7, training=False)), np.asarray(x))
    assert np.all(np.asarray(F.dropout(x, 1.0)) == 0)
    with pytest.raises(ValueError, match="ember.dropout"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(-0.1)
    with pytest.raises(TypeError, match="ember.dropout"):
        F.dropout(ember.tensor([1, 2]), 0.5)


# ---- activation modules -------------------------------------------------------------
def test_activation_modules(rng):
    import math

    x = rng.standard_normal((4, 5))
    t = _t(x)
    erf = np.vectorize(math.erf)
    cases = {
        nn.ReLU(): np.maximum(x, 0),
        nn.GELU(): 0.5 * x * (1 + erf(x / np.sqrt(2))),
        nn.GELU("tanh"): 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        nn.Tanh(): np.tanh(x),
        nn.Sigmoid(): 1 / (1 + np.exp(-x)),
        nn.SiLU(): x / (1 + np.exp(-x)),
        nn.Softmax(dim=-1): np.exp(x) / np.exp(x).sum(-1, keepdims=True),
        nn.Softmax(dim=0): np.exp(x) / np.exp(x).sum(0, keepdims=True),
    }
    for m, ref in cases.items():
        np.testing.assert_allclose(np.asarray(m(t)), ref, rtol=1e-5, atol=1e-6, err_msg=repr(m))
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
