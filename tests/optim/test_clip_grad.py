"""ember.nn.utils gradient clipping against numpy float64 and torch.nn.utils."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn.utils import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm

SHAPES = [(1,), (7,), (4, 33), (1025,), (100003,)]


def params_with_grads(rng, shapes=SHAPES, dtype=np.float32, scale=1.0):
    ps = []
    for s in shapes:
        p = nn.Parameter(ember.from_numpy(rng.standard_normal(s).astype(dtype)))
        p.grad = ember.from_numpy((rng.standard_normal(s) * scale).astype(dtype))
        ps.append(p)
    return ps


def np_norm(arrs, p):
    flat = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrs])
    return np.max(np.abs(flat)) if math.isinf(p) else np.sum(np.abs(flat) ** p) ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm(isa, rng, norm_type, max_norm):
    ps = params_with_grads(rng)
    grads = [p.grad.numpy().copy() for p in ps]
    total = np_norm(grads, norm_type)
    out = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert out.shape == () and out.dtype is ember.float32
    np.testing.assert_allclose(out.item(), total, rtol=1e-5)
    coef = min(max_norm / (total + 1e-6), 1.0)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=2e-6, atol=1e-7)
    if coef < 1:
        np.testing.assert_allclose(
            np_norm([p.grad.numpy() for p in ps], norm_type), max_norm, rtol=1e-4
        )


def test_clip_grad_norm_skips_missing_grads_and_single_tensor(rng):
    a, b = params_with_grads(rng, [(5,), (3,)])
    b.grad = None
    g = a.grad.numpy().copy()
    out = clip_grad_norm_([a, b], 1e-3)
    np.testing.assert_allclose(out.item(), np.linalg.norm(g), rtol=1e-6)
    out2 = clip_grad_norm_(a, 10.0)  # a single tensor works too
    assert out2.item() == pytest.approx(1e-3, rel=1e-3)
    assert clip_grad_norm_([b], 1.0).item() == 0.0  # no grads: norm 0


def test_float64_norm_dtype(rng):
    ps = params_with_grads(rng, [(3,), (40,), (17, 5)], np.float64)
    grads = [p.grad.numpy().copy() for p in ps]
    total = np_norm(grads, 2.0)
    out = clip_grad_norm_(ps, 1.0)
    assert out.dtype is ember.float64
    np.testing.assert_allclose(out.item(), total, rtol=1e-12)
    for p, g in zip(ps, grads, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g * (1.0 / (total + 1e-6)), rtol=1e-12)


def test_error_if_nonfinite(rng):
    ps = params_with_grads(rng)
    g = ps[3].grad.numpy()
    g[5] = np.nan
    before = [p.grad.numpy().copy() for p in ps]
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)
    # without the flag the NaN norm is returned and scales everything, as in PyTorch
    out = clip_grad_norm_(ps, 1.0)
    assert math.isnan(out.item())
    assert np.isnan(ps[0].grad.numpy()).all()


def test_inf_grad_norm(rng):
    ps = params_with_grads(rng, [(4,), (1000,)])
    ps[1].grad.numpy()[999] = -np.inf
    assert math.isinf(get_total_norm([p.grad for p in ps]).item())
    with pytest.raises(RuntimeError):
        get_total_norm([p.grad for p in ps], error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_(ps, 1.0, norm_type=math.inf).item())


def test_get_total_norm_and_clip_with_norm(rng):
    ps = params_with_grads(rng)
    grads = [p.grad.numpy().copy() for p in ps]
    total = get_total_norm([p.grad for p in ps])
    np.testing.assert_allclose(total.item(), np_norm(grads, 2.0), rtol=1e-6)
    clip_grads_with_norm_(ps, 1.0, total)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g / (total.item() + 1e-6), rtol=2e-6)


def test_clip_grad_value(isa, rng):
    ps = params_with_grads(rng, scale=3.0)
    ps[2].grad.numpy()[0, 0] = np.nan
    grads = [p.grad.numpy().copy() for p in ps]
    v0 = ps[0].grad._version
    clip_grad_value_(ps, 1.25)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.25, 1.25))
    assert ps[0].grad._version == v0 + 1


def test_bad_arguments(rng):
    ps = params_with_grads(rng, [(3,)])
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(ps, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(ps, 1.0, norm_type=-2)
    with pytest.raises(TypeError, match="parameters"):
        clip_grad_norm_([ps[0], "x"], 1.0)
    ps[0].grad = ember.ones(3, dtype=ember.int32)
    with pytest.raises(TypeError, match="int32"):
        clip_grad_value_(ps, 1.0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_matches_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    ps = params_with_grads(rng, SHAPES[:4], scale=2.0)
    tp = []
    for p in ps:
        t = torch.tensor(p.detach().numpy(), requires_grad=True)
        t.grad = torch.tensor(p.grad.numpy())
        tp.append(t)
    ours = clip_grad_norm_(ps, 1.0, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tp, 1.0, norm_type)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)
    for p, t in zip(ps, tp):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)
    for p, t in zip(ps, tp):
        t.grad.copy_(torch.from_numpy(p.grad.numpy()))  # same input, exact comparison
    clip_grad_value_(ps, 0.01)
    torch.nn.utils.clip_grad_value_(tp, 0.01)
    for p, t in zip(ps, tp):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())
