"""ember.autocast("cpu", dtype=bfloat16) computes the matrix products in bfloat16 with
float32 accumulation and the losses in float32, as torch's CPU autocast does: values
against float64 on bf16-rounded operands, dtypes against torch, gradients reaching the
float32 parameters, the weight cache, nesting, threads."""

import threading

import numpy as np
import pytest

import ember
import ember._autocast_state as autocast_state
import ember.nn.functional as F
from ember import nn


def _bf16(a: np.ndarray) -> np.ndarray:
    """float64 values of a rounded to bfloat16 (nearest even), through ember's own cast."""
    return (
        ember.tensor(np.asarray(a, np.float32))
        .to(ember.bfloat16)
        .float()
        .numpy()
        .astype(np.float64)
    )


def _region(dtype=ember.bfloat16, **kw):
    return ember.autocast("cpu", dtype=dtype, **kw)


def test_linear_values_and_gradients(rng):
    x_np = rng.standard_normal((37, 70)).astype(np.float32)
    layer = nn.Linear(70, 29)
    x = ember.tensor(x_np, requires_grad=True)
    with _region():
        y = layer(x)
    assert y.dtype is ember.bfloat16
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    want = _bf16(x_np) @ _bf16(w).T + _bf16(b)
    # the float32 sum is rounded once to bfloat16 (8 bits): relative error <= 2^-8
    np.testing.assert_allclose(
        y.float().detach().numpy(), want, rtol=2**-8, atol=1e-6 * np.abs(want).max()
    )
    g = rng.standard_normal((37, 29)).astype(np.float32)
    y.backward(ember.tensor(g).to(ember.bfloat16))
    assert layer.weight.grad.dtype is ember.float32 and x.grad.dtype is ember.float32
    g16 = _bf16(g)
    np.testing.assert_allclose(
        layer.weight.grad.numpy(), _bf16(g16.T @ _bf16(x_np)), rtol=2**-7, atol=1e-3
    )
    np.testing.assert_allclose(x.grad.numpy(), _bf16(g16 @ _bf16(w)), rtol=2**-7, atol=1e-3)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g16.sum(0), rtol=2**-7, atol=1e-3)


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a @ b,
        lambda a, b: ember.matmul(a, b),
        lambda a, b: ember.bmm(a[None], b[None])[0],
        lambda a, b: ember.addmm(ember.zeros(a.shape[0], b.shape[1]), a, b),
    ],
    ids=["@", "matmul", "bmm", "addmm"],
)
def test_products_run_in_bfloat16(rng, op):
    a_np, b_np = rng.standard_normal((5, 64)), rng.standard_normal((64, 7))
    a, b = ember.tensor(a_np.astype(np.float32)), ember.tensor(b_np.astype(np.float32))
    with _region():
        out = op(a, b)
    assert out.dtype is ember.bfloat16
    np.testing.assert_allclose(
        out.float().numpy(), _bf16(a_np) @ _bf16(b_np), rtol=2**-7, atol=1e-3
    )
    assert op(a, b).dtype is ember.float32  # outside the region


def test_attention_takes_and_returns_bfloat16(rng):
    q_np = rng.standard_normal((2, 3, 20, 16)).astype(np.float32)
    q = ember.tensor(q_np)
    with _region():
        out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert out.dtype is ember.bfloat16
    # The op on bf16 operands (bf16 products where native: tests/attention/test_attention_bf16.py
    # bounds its error), within 2^-8 of the output and of sum_j P_ij |v_j| <= max |v|.
    qb = q.to(ember.bfloat16)
    same = F.scaled_dot_product_attention(qb, qb, qb, is_causal=True)
    assert np.array_equal(out.float().numpy(), same.float().numpy())
    want = F.scaled_dot_product_attention(*(ember.tensor(_bf16(q_np)),) * 3, is_causal=True)
    atol = 2**-8 * np.abs(_bf16(q_np)).max()
    np.testing.assert_allclose(out.float().numpy(), want.numpy(), rtol=2**-8, atol=atol)


def test_what_is_left_alone(rng):
    a64 = ember.tensor(rng.standard_normal((4, 4)))
    a = ember.tensor(rng.standard_normal((4, 4)).astype(np.float32))
    with _region():
        assert (a64 @ a64).dtype is ember.float64  # float64 is never cast
        assert (a + a).dtype is ember.float32  # other ops keep their dtypes
        with _region(enabled=False):
            assert (a @ a).dtype is ember.float32
        assert (a @ a).dtype is ember.bfloat16
        with _region(dtype=ember.float16):
            assert (a @ a).dtype is ember.float16


def test_losses_run_in_float32(rng):
    logits = ember.tensor(rng.standard_normal((6, 5)).astype(np.float32), requires_grad=True)
    target = ember.tensor(rng.integers(0, 5, 6))
    with _region():
        low = logits.to(ember.bfloat16)
        loss = F.cross_entropy(low, target)
        mse = F.mse_loss(low, low.detach() * 0.5)
    assert loss.dtype is ember.float32 and mse.dtype is ember.float32
    want = F.cross_entropy(ember.tensor(_bf16(logits.detach().numpy())), target).item()
    assert abs(loss.item() - want) < 1e-6
    loss.backward()
    assert logits.grad.dtype is ember.float32


def test_matches_torch_dtypes_and_values(rng):
    torch = pytest.importorskip("torch")
    x_np = rng.standard_normal((16, 48)).astype(np.float32)
    w_np = rng.standard_normal((24, 48)).astype(np.float32) * 0.2
    t_lin = torch.nn.Linear(48, 24)
    with torch.no_grad():
        t_lin.weight.copy_(torch.from_numpy(w_np))
        t_lin.bias.zero_()
    e_lin = nn.Linear(48, 24)
    with ember.no_grad():
        e_lin.weight.copy_(ember.tensor(w_np))
        e_lin.bias.zero_()
    tx, ex = torch.from_numpy(x_np), ember.tensor(x_np)
    target = rng.integers(0, 24, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ty = t_lin(tx)
        t_mm, t_add = ty @ ty.T, ty + tx[:, :24]
        t_loss = torch.nn.functional.cross_entropy(ty, torch.from_numpy(target))
    with _region():
        ey = e_lin(ex)
        e_mm, e_add = ey @ ey.T, ey + ex[:, :24]
        e_loss = F.cross_entropy(ey, ember.tensor(target))
    for t, e in ((ty, ey), (t_mm, e_mm), (t_add, e_add), (t_loss, e_loss)):
        assert str(t.dtype).replace("torch.", "") == e.dtype.name
    # one bfloat16 rounding of float32 sums taken in different orders: within 2 ulps
    np.testing.assert_allclose(
        ey.float().detach().numpy(), ty.float().detach().numpy(), rtol=2**-7, atol=1e-2
    )
    assert abs(e_loss.item() - t_loss.item()) < 2e-2


def test_weight_cache(rng):
    layer = nn.Linear(8, 8)
    x = ember.tensor(rng.standard_normal((2, 8)).astype(np.float32))
    with _region():
        layer(x)
        layer(x)
        assert len(autocast_state.cached_casts()) == 2  # weight and bias, cast once
        with ember.no_grad():
            layer(x)  # a no_grad cast is kept apart from the one that carries gradients
            assert len(autocast_state.cached_casts()) == 4
            layer.weight.mul_(0.0)
            assert np.all(layer(x).float().numpy() == _bf16(layer.bias.detach().numpy()))
    assert len(autocast_state.cached_casts()) == 0  # dropped when the region ends
    with _region(cache_enabled=False):
        layer(x)
        assert len(autocast_state.cached_casts()) == 0


def test_training_under_autocast_keeps_float32_master_weights(rng):
    x = ember.tensor(rng.standard_normal((64, 10)).astype(np.float32))
    y = ember.tensor((rng.standard_normal(64) > 0).astype(np.int64))
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        with _region():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype is ember.float32 for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0]


def test_regions_are_per_thread(rng):
    a = ember.tensor(rng.standard_normal((3, 3)).astype(np.float32))
    seen = []
    with _region():
        worker = threading.Thread(target=lambda: seen.append((a @ a).dtype))
        worker.start()
        worker.join()
        assert (a @ a).dtype is ember.bfloat16
    assert seen == [ember.float32]
