"""nn.Linear and F.linear: one fused op, PyTorch initialization, gradients."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F


def test_linear_forward_matches_numpy(rng, isa):
    x = rng.standard_normal((7, 3, 33)).astype(np.float32)
    lin = nn.Linear(33, 17)
    y = lin(ember.from_numpy(x))
    w = lin.weight.detach().numpy().astype(np.float64)
    b = lin.bias.detach().numpy().astype(np.float64)
    assert y.shape == (7, 3, 17) and "LinearBackward" in repr(y)
    np.testing.assert_allclose(
        y.detach().numpy(), x.astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-5
    )


def test_default_initialization_bounds():
    ember.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = lin.weight.detach().numpy()
    assert w.min() >= -bound and w.max() <= bound and w.std() > bound / 2
    assert np.abs(lin.bias.detach().numpy()).max() <= bound
    assert nn.Linear(3, 2, bias=False).bias is None


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias, rng):
    x = ember.tensor(rng.standard_normal((2, 3, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(4), requires_grad=True) if bias else None
    inputs = (x, w, b) if bias else (x, w)
    assert gradcheck(lambda *t: F.linear(*t), inputs)


def test_weight_gradient_accumulates_across_backwards(rng):
    lin = nn.Linear(6, 3).double()
    x = ember.tensor(rng.standard_normal((5, 6)))
    lin(x).sum().backward()
    g1 = lin.weight.grad.numpy().copy()
    ptr = lin.weight.grad.data_ptr()
    lin(x * 2).sum().backward()
    assert lin.weight.grad.data_ptr() == ptr  # accumulated in place by the GEMM
    np.testing.assert_allclose(lin.weight.grad.numpy(), 3 * g1, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.numpy(), np.full(3, 10.0))


def test_linear_bad_input():
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="ember.linear: input of shape \\(3, 5\\)"):
        lin(ember.ones(3, 5))
    with pytest.raises(ValueError, match="bias of shape"):
        F.linear(ember.ones(3, 4), ember.ones(2, 4), ember.ones(3))
    with pytest.raises(TypeError, match="floating"):
        F.linear(ember.ones(3, 4, dtype=ember.int64), ember.ones(2, 4, dtype=ember.int64))
    with pytest.raises(ValueError, match="non-negative"):
        nn.Linear(-1, 2)


def test_linear_bfloat16(rng):
    x = rng.standard_normal((9, 64)).astype(np.float32)
    lin = nn.Linear(64, 8)
    ref = lin(ember.from_numpy(x)).detach().numpy()
    lin.bfloat16()
    y = lin(ember.from_numpy(x).bfloat16())
    assert y.dtype is ember.bfloat16
    np.testing.assert_allclose(y.float().detach().numpy(), ref, rtol=3e-2, atol=3e-2)


def test_linear_float16_gradients(rng):
    # float16 GEMMs run in float32: the bias gradient's column sum reads a float32 g and
    # must come back as float16 (it once asked reduce for a float32 -> float16 sum)
    x, w, b = (rng.standard_normal(s).astype(np.float16) for s in ((9, 16), (8, 16), (8,)))
    g = rng.standard_normal((9, 8)).astype(np.float16)
    xs, ws, bs = (ember.from_numpy(a).requires_grad_() for a in (x, w, b))
    F.linear(xs, ws, bs).backward(ember.from_numpy(g))
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    for t, want in ((xs, g64 @ w64), (ws, g64.T @ x64), (bs, g64.sum(0))):
        assert t.grad.dtype is ember.float16
        np.testing.assert_allclose(t.grad.numpy().astype(np.float64), want, rtol=3e-3, atol=3e-3)


def test_fused_forward_keeps_its_weights_only_outside_autograd():
    # without gradients the concatenated weight is kept and follows in-place edits and new
    # state dicts; with them every call concatenates, so gradients reach each layer
    import copy

    rng = np.random.default_rng(7)
    layers = [nn.Linear(10, n) for n in (3, 8, 5)]
    x = ember.from_numpy(rng.standard_normal((4, 10)).astype(np.float32))

    def separate() -> np.ndarray:
        with ember.no_grad():
            return np.concatenate([layer(x).numpy() for layer in layers], axis=-1)

    with ember.no_grad():
        np.testing.assert_allclose(
            nn.Linear.fused_forward(layers, x).numpy(), separate(), rtol=1e-5, atol=1e-6
        )
        layers[1].weight.mul_(-3.0)
        layers[2].load_state_dict(nn.Linear(10, 5).state_dict())
        np.testing.assert_allclose(
            nn.Linear.fused_forward(layers, x).numpy(), separate(), rtol=1e-5, atol=1e-6
        )
        clones = copy.deepcopy(layers)  # a copy builds its own and never sees the original's
        clones[0].weight.zero_()
        np.testing.assert_allclose(
            nn.Linear.fused_forward(layers, x).numpy(), separate(), rtol=1e-5, atol=1e-6
        )
    nn.Linear.fused_forward(layers, x).sum().backward()
    assert all(layer.weight.grad is not None for layer in layers)
