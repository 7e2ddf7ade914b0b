"""Fused softmax cross-entropy: the raw kernel and the autograd op against float64 numpy
references (loss, dlogits, gradients, gradcheck), awkward class counts up to a vocabulary
(50304), ignore_index, label smoothing, every reduction, every ISA, 1 vs 2 threads
bitwise, bfloat16, int32 targets, error paths."""

import ember._C as _C
import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.ops.cross_entropy import softmax_cross_entropy as ce

T = _C.TensorImpl.from_buffer
SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129, 1000, 1025, 50304]


def ce_ref(x, t, ignore_index=-100, eps=0.0):
    """float64 per-row losses and dlogits (softmax - smoothed one-hot; 0 for ignored rows)."""
    x = x.astype(np.float64)
    n, c = x.shape
    m = x.max(1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(1, keepdims=True))
    logp = x - lse
    losses = np.zeros(n)
    d = np.zeros_like(x)
    for i in range(n):
        if t[i] == ignore_index:
            continue
        losses[i] = -(1 - eps) * logp[i, t[i]]
        if eps:  # (0 * -inf would be NaN for masked logits)
            losses[i] -= eps / c * logp[i].sum()
        d[i] = np.exp(logp[i]) - eps / c
        d[i, t[i]] -= 1 - eps
    return losses, d


def run_kernel(x, t, ignore_index=-100, eps=0.0):
    losses = np.full(x.shape[0], np.nan, np.float32)
    d = np.full(x.shape, np.nan, np.float32)
    count, total = _C.cross_entropy_forward(T(x), T(t), T(losses), T(d), ignore_index, eps)
    return count, total, losses, d


def targets(rng, n, c, ignore_frac=0.25, ignore_index=-100):
    t = rng.integers(0, c, n).astype(np.int64)
    t[rng.random(n) < ignore_frac] = ignore_index
    return t


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("c", SIZES)
def test_kernel_every_class_count(isa, rng, c, eps):
    n = 3 if c > 2000 else 9
    x = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    t = targets(rng, n, c)
    t[0] = c - 1  # the last class, at the row's tail
    count, total, losses, d = run_kernel(x, t, eps=eps)
    rl, rd = ce_ref(x, t, eps=eps)
    assert count == int((t != -100).sum())
    np.testing.assert_allclose(losses, rl, rtol=2e-6, atol=2e-5)
    np.testing.assert_allclose(total, rl.sum(), rtol=2e-6, atol=1e-4)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=2e-7)
    assert (d[t == -100] == 0).all() and (losses[t == -100] == 0).all()


def test_kernel_large_and_masked_logits(isa, rng):
    c = 3000
    x = (rng.standard_normal((4, c)) * 5 + 1e4).astype(np.float32)  # large offset
    x[1, : c // 2] = -np.inf  # a masked half (first blocks entirely -inf)
    x[2, 2500:] = 80.0 + x[2, 2500:]  # the max sits in a late block
    x[3, ::7] = -np.inf
    t = np.array([5, 2000, 2900, 1], np.int64)
    _, _, losses, d = run_kernel(x, t)
    rl, rd = ce_ref(x, t)
    np.testing.assert_allclose(losses, rl, rtol=1e-5, atol=2e-3)
    np.testing.assert_allclose(d, rd, rtol=1e-4, atol=1e-6)


def test_kernel_nan_propagates(isa, rng):
    x = rng.standard_normal((2, 2100)).astype(np.float32)
    x[0, 1500] = np.nan
    _, _, losses, d = run_kernel(x, np.array([3, 4], np.int64))
    assert np.isnan(losses[0]) and np.isnan(d[0]).all()
    assert np.isfinite(losses[1]) and np.isfinite(d[1]).all()


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_threads_bitwise(isa, rng, eps):
    x = rng.standard_normal((40, 5000)).astype(np.float32)
    t = targets(rng, 40, 5000)
    g = rng.standard_normal(40).astype(np.float32)
    prev = _C.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            _C.set_num_threads(nt)
            count, total, losses, d = run_kernel(x, t, eps=eps)
            gi = np.full_like(d, np.nan)
            _C.cross_entropy_backward(T(d), T(g), T(gi), 0.5)
            outs.append((total, losses.tobytes(), d.tobytes(), gi.tobytes()))
    finally:
        _C.set_num_threads(prev)
    assert outs[0] == outs[1]


def test_kernel_float64(rng):
    x = rng.standard_normal((7, 129)) * 4
    t = targets(rng, 7, 129)
    losses, d = np.full(7, np.nan), np.full(x.shape, np.nan)
    count, total = _C.cross_entropy_forward(T(x), T(t), T(losses), T(d), -100, 0.3)
    rl, rd = ce_ref(x, t, eps=0.3)
    np.testing.assert_allclose(losses, rl, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d, rd, rtol=1e-12, atol=1e-14)


def test_backward_kernel_scales_rows(isa, rng):
    d = rng.standard_normal((5, 37)).astype(np.float32)
    g = rng.standard_normal(5).astype(np.float32)
    out = np.full_like(d, np.nan)
    _C.cross_entropy_backward(T(d), T(g), T(out), 2.0)
    np.testing.assert_allclose(out, d * g[:, None] * 2.0, rtol=1e-6)
    _C.cross_entropy_backward(T(d), T(g[:1].reshape(())), T(out), 0.25)
    np.testing.assert_allclose(out, d * g[0] * 0.25, rtol=1e-6)


# ---- the autograd op ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.15])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_op_values_and_grads(isa, rng, reduction, eps, ignore_index):
    n, c = 11, 67
    x_np = (rng.standard_normal((n, c)) * 2).astype(np.float32)
    t_np = targets(rng, n, c, ignore_index=ignore_index)
    t_np[:2] = ignore_index
    x = ember.from_numpy(x_np).requires_grad_(True)
    loss = ce(x, ember.from_numpy(t_np), ignore_index, eps, reduction)
    rl, rd = ce_ref(x_np, t_np, ignore_index, eps)
    count = int((t_np != ignore_index).sum())
    if reduction == "none":
        assert tuple(loss.shape) == (n,)
        np.testing.assert_allclose(loss.detach().numpy(), rl, rtol=1e-5, atol=1e-5)
        g = rng.standard_normal(n).astype(np.float32)
        loss.backward(ember.from_numpy(g))
        rg = rd * g[:, None]
    else:
        assert loss.ndim == 0
        ref = rl.sum() / (count if reduction == "mean" else 1)
        np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
        loss.backward()
        rg = rd / (count if reduction == "mean" else 1)
    assert loss.dtype is ember.float32
    np.testing.assert_allclose(x.grad.numpy(), rg, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_gradcheck(rng, reduction, eps):
    x = ember.from_numpy(rng.standard_normal((5, 6))).requires_grad_(True)
    t = ember.from_numpy(np.array([0, 5, -100, 2, 2], np.int64))
    assert gradcheck(lambda x: ce(x, t, label_smoothing=eps, reduction=reduction), (x,))


def test_int32_targets_match_int64(rng):
    x_np = rng.standard_normal((6, 9)).astype(np.float32)
    t_np = np.array([1, 8, -100, 0, 4, 4])
    a = ce(ember.from_numpy(x_np), ember.from_numpy(t_np.astype(np.int64)))
    b = ce(ember.from_numpy(x_np), ember.from_numpy(t_np.astype(np.int32)))
    assert a.item() == b.item()


def test_all_ignored_mean_is_nan_with_zero_grad():
    x = ember.from_numpy(np.ones((3, 4), np.float32)).requires_grad_(True)
    loss = ce(x, ember.from_numpy(np.full(3, -100, np.int64)))
    assert np.isnan(loss.item())
    loss.backward()
    assert (x.grad.numpy() == 0).all()
    s = ce(x.detach(), ember.from_numpy(np.full(3, -100, np.int64)), reduction="sum")
    assert s.item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_bfloat16(isa, rng, reduction):
    x_np = (rng.standard_normal((6, 300)) * 2).astype(np.float32)
    t_np = targets(rng, 6, 300)
    x = ember.from_numpy(x_np).to(ember.bfloat16).requires_grad_(True)
    loss = ce(x, ember.from_numpy(t_np), label_smoothing=0.1, reduction=reduction)
    assert loss.dtype is ember.bfloat16
    xr = x.detach().to(ember.float32).numpy()
    rl, rd = ce_ref(xr, t_np, eps=0.1)
    count = int((t_np != -100).sum())
    if reduction == "mean":
        np.testing.assert_allclose(loss.to(ember.float32).item(), rl.sum() / count, rtol=1e-2)
        loss.backward()
        rg = rd / count
    else:
        np.testing.assert_allclose(loss.detach().to(ember.float32).numpy(), rl, rtol=1e-2)
        loss.backward(ember.from_numpy(np.ones(6, np.float32)).to(ember.bfloat16))
        rg = rd
    assert x.grad.dtype is ember.bfloat16
    np.testing.assert_allclose(x.grad.to(ember.float32).numpy(), rg, rtol=2e-2, atol=1e-4)


def test_float64_op(rng):
    x_np = rng.standard_normal((4, 10))
    t_np = np.array([1, 2, 3, 9])
    loss = ce(ember.from_numpy(x_np), ember.from_numpy(t_np), label_smoothing=0.05)
    assert loss.dtype is ember.float64
    np.testing.assert_allclose(loss.item(), ce_ref(x_np, t_np, eps=0.05)[0].mean(), rtol=1e-13)


# ---- errors -----------------------------------------------------------------------------
def test_out_of_range_target_raises_before_writing(isa):
    x = np.zeros((3, 5), np.float32)
    for bad in (5, -1, 100):
        t = np.array([0, bad, 2], np.int64)
        losses = np.full(3, 7.0, np.float32)
        d = np.full(x.shape, 7.0, np.float32)
        with pytest.raises(IndexError, match=rf"ember.cross_entropy: target {bad} at position 1"):
            _C.cross_entropy_forward(T(x), T(t), T(losses), T(d), -100, 0.0)
        assert (losses == 7.0).all() and (d == 7.0).all()  # nothing written
    with pytest.raises(IndexError, match="target 5 .* out of range for 5 classes"):
        ce(ember.from_numpy(x), ember.from_numpy(np.array([0, 5, 2], np.int32)))


def test_errors_op_level():
    x = ember.from_numpy(np.zeros((3, 5), np.float32))
    t = ember.from_numpy(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"ember.cross_entropy: target of shape \(4,\)"):
        ce(x, ember.from_numpy(np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match=r"target of shape \(3, 1\) does not match"):
        ce(x, ember.from_numpy(np.zeros((3, 1), np.int64)))
    with pytest.raises(TypeError, match="ember.cross_entropy: expected an int64 or int32 target"):
        ce(x, ember.from_numpy(np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match="ember.cross_entropy: expected floating-point logits"):
        ce(ember.from_numpy(np.zeros((3, 5), np.int64)), t)
    with pytest.raises(ValueError, match=r"expected logits of shape \(N, C\), got shape \(15,\)"):
        ce(ember.from_numpy(np.zeros(15, np.float32)), t)
    with pytest.raises(ValueError, match="ember.cross_entropy: reduction must be"):
        ce(x, t, reduction="avg")
    with pytest.raises(ValueError, match="ember.cross_entropy: label_smoothing must be in"):
        ce(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="ember.cross_entropy: expected a Tensor for target"):
        ce(x, [0, 1, 2])


def test_errors_kernel_level():
    x = np.zeros((3, 5), np.float32)
    t = np.zeros(3, np.int64)
    losses, d = np.zeros(3, np.float32), np.zeros_like(x)
    with pytest.raises(TypeError, match="ember.cross_entropy: expected losses of dtype float32"):
        _C.cross_entropy_forward(T(x), T(t), T(losses.astype(np.float64)), T(d), -100, 0.0)
    with pytest.raises(ValueError, match="ember.cross_entropy: dlogits of shape"):
        _C.cross_entropy_forward(T(x), T(t), T(losses), T(d[:2]), -100, 0.0)
    with pytest.raises(ValueError, match="have no classes"):
        e = np.zeros((3, 0), np.float32)
        _C.cross_entropy_forward(T(e), T(t), T(losses), T(e), -100, 0.0)
    with pytest.raises(ValueError, match="ember.cross_entropy_backward: grad of shape"):
        _C.cross_entropy_backward(T(d), T(np.zeros(2, np.float32)), T(d.copy()), 1.0)


# ---- optional cross-check with torch ---------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(rng, reduction):
    torch = pytest.importorskip("torch")
    x_np = (rng.standard_normal((16, 1000)) * 3).astype(np.float32)
    t_np = targets(rng, 16, 1000)
    for eps in (0.0, 0.1):
        x = ember.from_numpy(x_np).requires_grad_(True)
        tx = torch.tensor(x_np, requires_grad=True)
        loss = ce(x, ember.from_numpy(t_np), label_smoothing=eps, reduction=reduction)
        tl = torch.nn.functional.cross_entropy(
            tx, torch.from_numpy(t_np), label_smoothing=eps, reduction=reduction
        )
        np.testing.assert_allclose(loss.detach().numpy(), tl.detach().numpy(), rtol=1e-5)
        g = rng.standard_normal(16).astype(np.float32) if reduction == "none" else None
        loss.backward(None if g is None else ember.from_numpy(g))
        tl.backward(None if g is None else torch.from_numpy(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-7)
