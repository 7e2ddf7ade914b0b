"""F.linear(..., activation=...) as one op: values and gradients vs float64 numpy for
none / relu / gelu / gelu_tanh, with and without bias, every ISA; gradcheck; errors."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

ACTS = ["none", "relu", "gelu", "gelu_tanh"]
_erf = np.vectorize(math.erf)


def act_ref(z, act):
    """(act(z), act'(z)) in float64."""
    if act == "none":
        return z, np.ones_like(z)
    if act == "relu":
        return np.maximum(z, 0), (z > 0).astype(np.float64)
    if act == "gelu":
        cdf = 0.5 * (1 + _erf(z / math.sqrt(2)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return z * cdf, cdf + z * pdf
    k = math.sqrt(2 / math.pi)
    u = k * (z + 0.044715 * z**3)
    t = np.tanh(u)
    return 0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * 0.044715 * z * z)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
def test_values_and_grads(isa, rng, act, bias):
    x_np = rng.standard_normal((2, 7, 33)).astype(np.float32)
    w_np = (rng.standard_normal((17, 33)) / 5).astype(np.float32)
    b_np = rng.standard_normal(17).astype(np.float32)
    g_np = rng.standard_normal((2, 7, 17)).astype(np.float32)
    x = ember.from_numpy(x_np).requires_grad_(True)
    w = ember.from_numpy(w_np).requires_grad_(True)
    b = ember.from_numpy(b_np).requires_grad_(True) if bias else None
    y = F.linear(x, w, b, activation=act)
    z = x_np.astype(np.float64) @ w_np.T.astype(np.float64) + (b_np if bias else 0.0)
    ry, dact = act_ref(z, act)
    np.testing.assert_allclose(y.detach().numpy(), ry, rtol=1e-4, atol=1e-4)
    y.backward(ember.from_numpy(g_np))
    gz = g_np * dact
    np.testing.assert_allclose(x.grad.numpy(), gz @ w_np, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        w.grad.numpy(), gz.reshape(-1, 17).T @ x_np.reshape(-1, 33), rtol=1e-4, atol=1e-4
    )
    if bias:
        np.testing.assert_allclose(b.grad.numpy(), gz.reshape(-1, 17).sum(0), rtol=1e-4, atol=1e-4)
    assert y.grad_fn is not None and y.grad_fn.name() == "LinearBackward"  # one op


@pytest.mark.parametrize("act", ACTS)
def test_gradcheck(rng, act):
    x = ember.from_numpy(rng.standard_normal((4, 5))).requires_grad_(True)
    w = ember.from_numpy(rng.standard_normal((3, 5))).requires_grad_(True)
    b = ember.from_numpy(rng.standard_normal(3)).requires_grad_(True)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b, activation=act), (x, w, b))


def test_bfloat16_gelu(rng):
    x_np = rng.standard_normal((6, 32)).astype(np.float32)
    w_np = (rng.standard_normal((8, 32)) / 4).astype(np.float32)
    b_np = rng.standard_normal(8).astype(np.float32)
    bf = ember.bfloat16
    x = ember.from_numpy(x_np).to(bf).requires_grad_(True)
    w = ember.from_numpy(w_np).to(bf).requires_grad_(True)
    b = ember.from_numpy(b_np).to(bf).requires_grad_(True)
    y = F.linear(x, w, b, activation="gelu")
    assert y.dtype is bf
    f = lambda t: t.detach().to(ember.float32).numpy().astype(np.float64)  # noqa: E731
    ry, dact = act_ref(f(x) @ f(w).T + f(b), "gelu")
    np.testing.assert_allclose(f(y), ry, rtol=2e-2, atol=2e-2)
    y.sum().backward()
    assert b.grad.dtype is bf and w.grad.dtype is bf and x.grad.dtype is bf
    np.testing.assert_allclose(f(b.grad), dact.sum(0), rtol=2e-2, atol=5e-2)


def test_relu_backward_uses_the_fused_output(rng):
    # Exactly-zero pre-activations get zero gradient (as torch's threshold_backward).
    x = ember.from_numpy(np.zeros((2, 3), np.float32)).requires_grad_(True)
    w = ember.from_numpy(np.ones((4, 3), np.float32)).requires_grad_(True)
    F.linear(x, w, activation="relu").sum().backward()
    assert (x.grad.numpy() == 0).all() and (w.grad.numpy() == 0).all()


def test_unknown_activation():
    x = ember.from_numpy(np.ones((2, 3), np.float32))
    w = ember.from_numpy(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="ember.linear: activation must be one of"):
        F.linear(x, w, activation="tanh")


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x_np = rng.standard_normal((5, 16)).astype(np.float32)
    w_np = rng.standard_normal((9, 16)).astype(np.float32)
    b_np = rng.standard_normal(9).astype(np.float32)
    tf = {
        "relu": torch.relu,
        "gelu": torch.nn.functional.gelu,
        "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    }
    for act, fn in tf.items():
        x = ember.from_numpy(x_np).requires_grad_(True)
        tx = torch.tensor(x_np, requires_grad=True)
        y = F.linear(x, ember.from_numpy(w_np), ember.from_numpy(b_np), activation=act)
        ty = fn(torch.nn.functional.linear(tx, torch.from_numpy(w_np), torch.from_numpy(b_np)))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
