"""batch_norm kernels and op against a float64 numpy reference: training statistics,
running-stat updates (unbiased variance), eval mode, gradients (gradcheck), every ISA,
1 vs 2 threads bitwise; the nn.BatchNorm1d / 2d modules; argument errors."""

import ember._C as _C
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.autograd import gradcheck

T = _C.TensorImpl.from_buffer


def batch_norm_train(x, gamma, beta, eps):
    """(y, batch mean, biased batch var) over all dims but 1."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    y = y * np.asarray(gamma, np.float64).reshape(shape) + np.asarray(beta, np.float64).reshape(
        shape
    )
    return y, mean, var


def _bn_grads(x, gamma, gy, eps):
    """Analytic batch-norm gradients in float64 (training mode)."""
    x = x.astype(np.float64)
    gy = gy.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes).reshape(shape)
    inv = 1 / np.sqrt(x.var(axis=axes).reshape(shape) + eps)
    xhat = (x - mean) * inv
    g = gamma.astype(np.float64).reshape(shape)
    sdy = gy.sum(axis=axes).reshape(shape)
    sdyx = (gy * xhat).sum(axis=axes).reshape(shape)
    gx = g * inv / m * (m * gy - sdy - xhat * sdyx)
    return gx, sdyx.ravel(), sdy.ravel()


@pytest.mark.parametrize(
    "shape", [(4, 3), (7, 5, 1), (2, 3, 17), (3, 4, 5, 7), (2, 16, 8, 8), (1, 2, 33, 31)]
)
def test_training_forward_backward_kernels(shape, isa, rng):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(np.float32)
    gamma = rng.standard_normal(c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    rm = rng.standard_normal(c).astype(np.float32)
    rv = (rng.random(c) + 0.5).astype(np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    out = np.full(shape, np.nan, np.float32)
    sm = np.full(c, np.nan, np.float32)
    si = np.full(c, np.nan, np.float32)
    eps, mom = 1e-5, 0.1
    _C.batch_norm_forward(
        T(x), T(gamma), T(beta), T(rm), T(rv), T(out), T(sm), T(si), True, mom, eps
    )
    ref, mean, var = batch_norm_train(x, gamma, beta, eps)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(sm, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(si, 1 / np.sqrt(var + eps), rtol=1e-5)
    m = x.size // c
    np.testing.assert_allclose(rm, 0.9 * rm0 + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, 0.9 * rv0 + 0.1 * var * m / (m - 1), rtol=1e-5)
    gy = rng.standard_normal(shape).astype(np.float32)
    gx = np.full(shape, np.nan, np.float32)
    gw = np.full(c, np.nan, np.float32)
    gb = np.full(c, np.nan, np.float32)
    _C.batch_norm_backward(T(gy), T(x), T(gamma), T(sm), T(si), T(gx), T(gw), T(gb), True)
    gx_r, gw_r, gb_r = _bn_grads(x, gamma, gy, eps)
    np.testing.assert_allclose(gx, gx_r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw_r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, gb_r, rtol=1e-4, atol=1e-4)


def test_eval_mode(isa, rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    rm = rng.standard_normal(4).astype(np.float32)
    rv = (rng.random(4) + 0.5).astype(np.float32)
    w = rng.standard_normal(4).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out = F.batch_norm(
        ember.tensor(x),
        ember.tensor(rm),
        ember.tensor(rv),
        ember.tensor(w),
        ember.tensor(b),
        training=False,
        eps=1e-3,
    )
    sh = (1, 4, 1, 1)
    ref = (x - rm.reshape(sh)) / np.sqrt(rv.reshape(sh) + 1e-3) * w.reshape(sh) + b.reshape(sh)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 2)])
def test_gradcheck(training, shape, rng):
    c = shape[1]
    x = ember.tensor(rng.standard_normal(shape), dtype=ember.float64, requires_grad=True)
    w = ember.tensor(rng.standard_normal(c), dtype=ember.float64, requires_grad=True)
    b = ember.tensor(rng.standard_normal(c), dtype=ember.float64, requires_grad=True)
    rm = ember.tensor(rng.standard_normal(c), dtype=ember.float64)
    rv = ember.tensor(rng.random(c) + 0.5, dtype=ember.float64)
    if training:
        fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    else:
        fn = lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False)  # noqa: E731
    assert gradcheck(fn, [x, w, b])


def test_no_affine_gradcheck(rng):
    x = ember.tensor(rng.standard_normal((5, 3, 4)), dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])


def test_threads_bitwise(rng):
    x = ember.tensor(rng.standard_normal((16, 48, 19, 21)).astype(np.float32), requires_grad=True)
    w = ember.tensor(rng.standard_normal(48).astype(np.float32), requires_grad=True)
    b = ember.tensor(rng.standard_normal(48).astype(np.float32), requires_grad=True)
    gy = ember.tensor(rng.standard_normal((16, 48, 19, 21)).astype(np.float32))
    old = ember.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            for t in (x, w, b):
                t.grad = None
            rm, rv = ember.zeros(48), ember.ones(48)
            y = F.batch_norm(x, rm, rv, w, b, training=True)
            y.backward(gy)
            res.append(
                [
                    y.detach().numpy().copy(),
                    rm.numpy(),
                    rv.numpy(),
                    x.grad.numpy(),
                    w.grad.numpy(),
                    b.grad.numpy(),
                ]
            )
    finally:
        ember.set_num_threads(old)
    for u, v in zip(*res):
        assert np.array_equal(u, v)


def test_batchnorm2d_running_stats_and_modes(rng):
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert set(bn.state_dict()) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    rm, rv = np.zeros(3), np.ones(3)
    xs = [(rng.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32) for _ in range(3)]
    for x in xs:
        y = bn(ember.tensor(x))
        mean = x.astype(np.float64).mean(axis=(0, 2, 3))
        var = x.astype(np.float64).var(axis=(0, 2, 3))
        rm = 0.9 * rm + 0.1 * mean
        rv = 0.9 * rv + 0.1 * var * 100 / 99
        sh = (1, 3, 1, 1)
        ref = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-5)
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3
    bn.eval()
    x = xs[0]
    y = bn(ember.tensor(x))
    sh = (1, 3, 1, 1)
    ref = (x - rm.reshape(sh)) / np.sqrt(rv.reshape(sh) + 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    assert int(bn.num_batches_tracked.item()) == 3  # eval does not count


def test_batchnorm_cumulative_momentum_and_no_tracking(rng):
    bn = nn.BatchNorm1d(4, momentum=None)
    xs = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(3)]
    for x in xs:
        bn(ember.tensor(x))
    mean = np.mean([x.astype(np.float64).mean(0) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    free = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert free.running_mean is None and free.weight is None
    free.eval()  # no running stats: batch statistics even in eval
    y = free(ember.tensor(xs[0])).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    bn3 = nn.BatchNorm1d(4)
    assert bn3(ember.tensor(rng.standard_normal((2, 4, 7)).astype(np.float32))).shape == (2, 4, 7)


def test_errors():
    with pytest.raises(ValueError, match=r"ember.nn.BatchNorm2d: expected 4-D input, got shape"):
        nn.BatchNorm2d(3)(ember.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"ember.nn.BatchNorm1d: expected 2-D or 3-D input"):
        nn.BatchNorm1d(3)(ember.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="ember.batch_norm: expected an input of at least 2"):
        F.batch_norm(ember.randn(4), None, None, training=True)
    with pytest.raises(
        ValueError,
        match=r"ember.nn.BatchNorm2d: input of shape \(2, 4, 3, 3\) "
        "has 4 channels, expected num_features=3",
    ):
        nn.BatchNorm2d(3)(ember.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"ember.batch_norm: weight of shape \(2,\)"):
        F.batch_norm(ember.randn(2, 3, 4), None, None, ember.randn(2), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.batch_norm(ember.randn(2, 3), None, None, training=False)
