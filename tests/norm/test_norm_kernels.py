"""layer_norm / rms_norm: the raw kernels and the autograd ops against float64 numpy
references (values, analytic gradients, gradcheck), awkward row lengths, large means,
weight/bias combinations, every ISA, 1 vs 2 threads bitwise, bfloat16, errors."""

import ember._C as _C
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

T = _C.TensorImpl.from_buffer
SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129, 1000, 1025, 50304]
F32 = 6


def ln_ref(x, w, b, eps, rms=False):
    """float64 forward: y, mean, rstd."""
    x = x.astype(np.float64)
    mean = np.zeros(x.shape[0]) if rms else x.mean(1)
    var = (x * x).mean(1) if rms else x.var(1)
    rstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean[:, None]) * rstd[:, None]
    if w is not None:
        y = y * w.astype(np.float64)
    if b is not None:
        y = y + b.astype(np.float64)
    return y, mean, rstd


def ln_grads(x, w, g, eps, rms=False):
    """float64 analytic gradients: dx, dw, db."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    n = x.shape[1]
    _, mean, rstd = ln_ref(x, None, None, eps, rms)
    xhat = (x - mean[:, None]) * rstd[:, None]
    gw = g * (w.astype(np.float64) if w is not None else 1.0)
    a = 0.0 if rms else gw.mean(1, keepdims=True)
    c = (gw * xhat).mean(1, keepdims=True)
    dx = rstd[:, None] * (gw - a - xhat * c)
    return dx, (g * xhat).sum(0), g.sum(0)
    del n


def poison(shape, dtype=np.float32):
    return np.full(shape, np.nan, dtype=dtype)


def run_forward(x, w, b, eps, rms):
    rows, n = x.shape
    y, mean, rstd = poison(x.shape), poison(rows), poison(rows)
    wt = None if w is None else T(w)
    if rms:
        _C.rms_norm_forward(T(x), n, wt, T(y), T(rstd), eps)
    else:
        bt = None if b is None else T(b)
        _C.layer_norm_forward(T(x), n, wt, bt, T(y), T(mean), T(rstd), eps)
    return y, mean, rstd


def run_backward(g, x, w, mean, rstd, rms, need=(True, True, True)):
    rows, n = x.shape
    gx = poison(x.shape) if need[0] else None
    gw = poison(n) if need[1] else None
    gb = poison(n) if need[2] and not rms else None
    opt = lambda a: None if a is None else T(a)  # noqa: E731
    if rms:
        _C.rms_norm_backward(T(g), T(x), n, opt(w), T(rstd), opt(gx), opt(gw))
    else:
        _C.layer_norm_backward(T(g), T(x), n, opt(w), T(mean), T(rstd), opt(gx), opt(gw), opt(gb))
    return gx, gw, gb


def rand_case(rng, rows, n, offset=0.0):
    x = (rng.standard_normal((rows, n)) * 2 + offset).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize("n", SIZES)
def test_forward_backward_every_length(isa, rng, n, rms):
    rows = 2 if n > 2000 else 5
    x, w, b = rand_case(rng, rows, n, offset=0.0 if rms else 3.0)
    y, mean, rstd = run_forward(x, w, b, 1e-5, rms)
    ry, rmean, rrstd = ln_ref(x, w, None if rms else b, 1e-5, rms)
    np.testing.assert_allclose(y, ry, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(rstd, rrstd, rtol=2e-5)
    if not rms:
        np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-6)
    else:
        assert np.isnan(mean).all()  # not written for RMS norm
    g = rng.standard_normal((rows, n)).astype(np.float32)
    gx, gw, gb = run_backward(g, x, w, mean, rstd, rms)
    rdx, rdw, rdb = ln_grads(x, w, g, 1e-5, rms)
    scale = max(1.0, np.abs(rdx).max())
    np.testing.assert_allclose(gx, rdx, rtol=1e-4, atol=2e-5 * scale)
    np.testing.assert_allclose(gw, rdw, rtol=1e-4, atol=1e-4)
    if not rms:
        np.testing.assert_allclose(gb, rdb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize("has_w,has_b", [(False, False), (True, False), (False, True)])
def test_weight_bias_none(isa, rng, rms, has_w, has_b):
    x, w, b = rand_case(rng, 9, 33)
    w = w if has_w else None
    b = b if has_b and not rms else None
    y, mean, rstd = run_forward(x, w, b, 1e-5, rms)
    np.testing.assert_allclose(y, ln_ref(x, w, b, 1e-5, rms)[0], rtol=2e-5, atol=2e-5)
    g = rng.standard_normal(x.shape).astype(np.float32)
    for need in [(True, has_w, has_b), (False, has_w, has_b), (True, False, False)]:
        gx, gw, gb = run_backward(g, x, w, mean, rstd, rms, need)
        rdx, rdw, rdb = ln_grads(x, w, g, 1e-5, rms)
        if need[0]:
            np.testing.assert_allclose(gx, rdx, rtol=1e-4, atol=1e-4)
        if need[1]:
            np.testing.assert_allclose(gw, rdw, rtol=1e-4, atol=1e-4)
        if gb is not None:
            np.testing.assert_allclose(gb, rdb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [17, 768, 4099])
def test_large_mean_is_accurate(isa, rng, n):
    # 1e4 + noise: a one-pass E[x^2] - E[x]^2 would lose everything here.
    x = (1e4 + rng.standard_normal((4, n))).astype(np.float32)
    y, mean, rstd = run_forward(x, None, None, 1e-5, False)
    ry, rmean, rrstd = ln_ref(x, None, None, 1e-5)
    np.testing.assert_allclose(rstd, rrstd, rtol=1e-4)
    np.testing.assert_allclose(y, ry, atol=2e-4)
    np.testing.assert_allclose(mean, rmean, rtol=1e-7)


def test_many_rows_and_few_rows(isa, rng):
    # 8195 x 129 floats (4.2 MB) takes the streaming-store path, rows misaligned.
    for rows, n in [(8192, 48), (1, 50304), (3, 4096), (8195, 129)]:
        x, w, b = rand_case(rng, rows, n)
        y, mean, rstd = run_forward(x, w, b, 1e-5, False)
        np.testing.assert_allclose(y, ln_ref(x, w, b, 1e-5)[0], rtol=3e-5, atol=3e-5)
        g = rng.standard_normal(x.shape).astype(np.float32)
        gx, gw, gb = run_backward(g, x, w, mean, rstd, False)
        rdx, rdw, rdb = ln_grads(x, w, g, 1e-5)
        np.testing.assert_allclose(gx, rdx, rtol=1e-4, atol=1e-4 * max(1, np.abs(rdx).max()))
        np.testing.assert_allclose(gw, rdw, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(gb, rdb, rtol=1e-4, atol=1e-3)


def test_zero_rows_give_zero_param_grads():
    x = np.zeros((0, 5), np.float32)
    gx, gw, gb = run_backward(
        x, x, np.ones(5, np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32), False
    )
    assert (gw == 0).all() and (gb == 0).all()


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
def test_threads_bitwise(isa, rng, rms):
    x, w, b = rand_case(rng, 1031, 1025)  # 4.2 MB: the streaming-store path
    g = rng.standard_normal(x.shape).astype(np.float32)
    prev = _C.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            _C.set_num_threads(nt)
            y, mean, rstd = run_forward(x, w, b, 1e-5, rms)
            outs.append((y, rstd) + run_backward(g, x, w, mean, rstd, rms))
    finally:
        _C.set_num_threads(prev)
    for a, c in zip(outs[0], outs[1]):
        if a is not None:
            assert a.tobytes() == c.tobytes()


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
def test_float64_kernel(rng, rms):
    x = rng.standard_normal((6, 129)) * 3 + 100
    w, b = rng.standard_normal(129), rng.standard_normal(129)
    y, mean, rstd = (np.full(x.shape, np.nan), np.full(6, np.nan), np.full(6, np.nan))
    if rms:
        _C.rms_norm_forward(T(x), 129, T(w), T(y), T(rstd), 1e-6)
    else:
        _C.layer_norm_forward(T(x), 129, T(w), T(b), T(y), T(mean), T(rstd), 1e-6)
    np.testing.assert_allclose(
        y, ln_ref(x, w, None if rms else b, 1e-6, rms)[0], rtol=1e-12, atol=1e-12
    )
    g = rng.standard_normal(x.shape)
    gx, gw, gb = np.full(x.shape, np.nan), np.full(129, np.nan), np.full(129, np.nan)
    if rms:
        _C.rms_norm_backward(T(g), T(x), 129, T(w), T(rstd), T(gx), T(gw))
    else:
        _C.layer_norm_backward(T(g), T(x), 129, T(w), T(mean), T(rstd), T(gx), T(gw), T(gb))
    rdx, rdw, rdb = ln_grads(x, w, g, 1e-6, rms)
    np.testing.assert_allclose(gx, rdx, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gw, rdw, rtol=1e-9, atol=1e-10)
    if not rms:
        np.testing.assert_allclose(gb, rdb, rtol=1e-9, atol=1e-10)


# ---- the autograd ops -----------------------------------------------------------------
def _leaf(a):
    return ember.from_numpy(np.ascontiguousarray(a)).requires_grad_(True)


@pytest.mark.parametrize("shape,norm", [((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((5,), 5)])
def test_gradcheck_layer_norm(rng, shape, norm):
    nshape = (norm,) if isinstance(norm, int) else norm
    x = _leaf(rng.standard_normal(shape))
    w = _leaf(rng.standard_normal(nshape))
    b = _leaf(rng.standard_normal(nshape))
    assert gradcheck(lambda x, w, b: F.layer_norm(x, norm, w, b, eps=1e-3), (x, w, b))
    assert gradcheck(lambda x, w: F.layer_norm(x, norm, w), (x, w))
    assert gradcheck(lambda x, b: F.layer_norm(x, norm, None, b), (x, b))
    assert gradcheck(lambda x: F.layer_norm(x, norm), (x,))


@pytest.mark.parametrize("shape,norm", [((2, 3, 4), (4,)), ((2, 3, 4), (3, 4))])
def test_gradcheck_rms_norm(rng, shape, norm):
    x = _leaf(rng.standard_normal(shape))
    w = _leaf(rng.standard_normal(norm))
    assert gradcheck(lambda x, w: F.rms_norm(x, norm, w, eps=1e-3), (x, w))
    assert gradcheck(lambda x: F.rms_norm(x, norm), (x,))


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
def test_op_float32_values_and_grads(isa, rng, rms):
    x_np = rng.standard_normal((3, 5, 65)).astype(np.float32)
    w_np = rng.standard_normal(65).astype(np.float32)
    b_np = rng.standard_normal(65).astype(np.float32)
    g_np = rng.standard_normal(x_np.shape).astype(np.float32)
    x, w, b = _leaf(x_np), _leaf(w_np), _leaf(b_np)
    y = F.rms_norm(x, 65, w, eps=1e-6) if rms else F.layer_norm(x, [65], w, b)
    eps = 1e-6 if rms else 1e-5
    x2 = x_np.reshape(-1, 65)
    ry = ln_ref(x2, w_np, None if rms else b_np, eps, rms)[0].reshape(x_np.shape)
    assert y.dtype is ember.float32 and tuple(y.shape) == x_np.shape
    np.testing.assert_allclose(y.detach().numpy(), ry, rtol=2e-5, atol=2e-5)
    y.backward(ember.from_numpy(g_np))
    rdx, rdw, rdb = ln_grads(x2, w_np, g_np.reshape(-1, 65), eps, rms)
    np.testing.assert_allclose(x.grad.numpy(), rdx.reshape(x_np.shape), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), rdw, rtol=1e-4, atol=1e-4)
    if not rms:
        np.testing.assert_allclose(b.grad.numpy(), rdb, rtol=1e-4, atol=1e-4)


def test_rms_norm_default_eps(rng):
    x_np = (rng.standard_normal((2, 8)) * 1e-4).astype(np.float32)
    y = F.rms_norm(ember.from_numpy(x_np), 8)
    ry = ln_ref(x_np, None, None, np.finfo(np.float32).eps, rms=True)[0]
    np.testing.assert_allclose(y.numpy(), ry, rtol=1e-4)
    x64 = rng.standard_normal((2, 8)) * 1e-9
    y64 = F.rms_norm(ember.from_numpy(x64), (8,))
    np.testing.assert_allclose(y64.numpy(), ln_ref(x64, None, None, 2.0**-52, True)[0], rtol=1e-9)


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize("wdt", ["bfloat16", "float32"])
def test_bfloat16(isa, rng, rms, wdt):
    x_np = rng.standard_normal((4, 130)).astype(np.float32)
    w_np = rng.standard_normal(130).astype(np.float32)
    b_np = rng.standard_normal(130).astype(np.float32)
    bf = ember.bfloat16
    x = ember.from_numpy(x_np).to(bf).requires_grad_(True)
    w = ember.from_numpy(w_np).to(getattr(ember, wdt)).requires_grad_(True)
    b = ember.from_numpy(b_np).to(getattr(ember, wdt)).requires_grad_(True)
    y = F.rms_norm(x, 130, w) if rms else F.layer_norm(x, 130, w, b)
    assert y.dtype is bf
    # Reference on the values the kernel saw (bf16-rounded inputs), in float64.
    xr = x.detach().to(ember.float32).numpy()
    wr = w.detach().to(ember.float32).numpy()
    br = b.detach().to(ember.float32).numpy()
    eps = np.finfo(np.float32).eps if rms else 1e-5
    ry = ln_ref(xr, wr, None if rms else br, eps, rms)[0]
    np.testing.assert_allclose(y.detach().to(ember.float32).numpy(), ry, rtol=1e-2, atol=2e-2)
    g_np = rng.standard_normal(x_np.shape).astype(np.float32)
    y.backward(ember.from_numpy(g_np).to(bf))
    gr = ember.from_numpy(g_np).to(bf).to(ember.float32).numpy()
    rdx, rdw, rdb = ln_grads(xr, wr, gr, eps, rms)
    assert x.grad.dtype is bf and w.grad.dtype is w.dtype
    np.testing.assert_allclose(x.grad.to(ember.float32).numpy(), rdx, rtol=2e-2, atol=5e-2)
    np.testing.assert_allclose(w.grad.to(ember.float32).numpy(), rdw, rtol=2e-2, atol=5e-2)
    if not rms:
        np.testing.assert_allclose(b.grad.to(ember.float32).numpy(), rdb, rtol=2e-2, atol=5e-2)


def test_float16_goes_through_float32(rng):
    x_np = rng.standard_normal((3, 10)).astype(np.float16)
    y = F.layer_norm(ember.from_numpy(x_np), 10)
    assert y.dtype is ember.float16
    np.testing.assert_allclose(
        y.numpy().astype(np.float64), ln_ref(x_np, None, None, 1e-5)[0], atol=5e-3
    )


# ---- errors -----------------------------------------------------------------------------
def test_errors_op_level():
    x = ember.from_numpy(np.ones((2, 3, 4), np.float32))
    w = ember.from_numpy(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"ember.layer_norm: input of shape \(2, 3, 4\) does not"):
        F.layer_norm(x, (3,))
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        F.layer_norm(x, (2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"ember.layer_norm: weight of shape \(3,\)"):
        F.layer_norm(x, 4, ember.from_numpy(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"ember.rms_norm: weight of shape \(4,\) does not"):
        F.rms_norm(x, (3, 4), w)
    with pytest.raises(ValueError, match="ember.layer_norm: bias of shape"):
        F.layer_norm(x, 4, w, ember.from_numpy(np.ones((1, 4), np.float32)))
    with pytest.raises(TypeError, match="ember.layer_norm: expected a floating-point input"):
        F.layer_norm(ember.from_numpy(np.ones((2, 4), np.int64)), 4)
    with pytest.raises(TypeError, match="ember.layer_norm: expected a Tensor"):
        F.layer_norm(np.ones((2, 4)), 4)
    with pytest.raises(ValueError, match="ember.layer_norm: normalized_shape must be"):
        F.layer_norm(x, ())
    with pytest.raises(ValueError, match="ember.rms_norm: eps must be"):
        F.rms_norm(x, 4, eps=-1.0)


def test_errors_kernel_level():
    x = np.ones((2, 6), np.float32)
    y, st = np.zeros_like(x), np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="cannot be viewed as rows of 5"):
        _C.layer_norm_forward(T(x), 5, None, None, T(y), T(st), T(st), 1e-5)
    with pytest.raises(TypeError, match="ember.layer_norm: expected mean of dtype float32"):
        _C.layer_norm_forward(T(x), 6, None, None, T(y), T(st.astype(np.float64)), T(st), 1e-5)
    with pytest.raises(ValueError, match="ember.rms_norm: rstd of shape \\(3,\\) must have 2"):
        _C.rms_norm_forward(T(x), 6, None, T(y), T(np.zeros(3, np.float32)), 1e-5)
    with pytest.raises(TypeError, match="ember.layer_norm: expected a float32, float64 or bf"):
        _C.layer_norm_forward(T(x.astype(np.int32)), 6, None, None, T(y), T(st), T(st), 1e-5)
    with pytest.raises(ValueError, match="must be contiguous"):
        _C.rms_norm_forward(T(np.ones((6, 2), np.float32).T), 6, None, T(y), T(st), 1e-5)
    with pytest.raises(TypeError, match="ember.layer_norm_backward: weight has dtype float64"):
        _C.layer_norm_backward(T(x), T(x), 6, T(np.ones(6)), T(st), T(st), None, None, None)
    with pytest.raises(ValueError, match="ember.rms_norm: normalized size must be positive"):
        _C.rms_norm_forward(T(x), 0, None, T(y), T(st), 1e-5)


# ---- optional cross-check with torch ---------------------------------------------------
def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x_np = (rng.standard_normal((4, 7, 96)) * 3 + 50).astype(np.float32)
    w_np, b_np = (
        rng.standard_normal(96).astype(np.float32),
        rng.standard_normal(96).astype(np.float32),
    )
    g_np = rng.standard_normal(x_np.shape).astype(np.float32)
    for rms in (False, True):
        x, w, b = _leaf(x_np), _leaf(w_np), _leaf(b_np)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
        if rms:
            y, ty = F.rms_norm(x, 96, w), torch.nn.functional.rms_norm(tx, (96,), tw)
        else:
            y, ty = F.layer_norm(x, 96, w, b), torch.nn.functional.layer_norm(tx, (96,), tw, tb)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        y.backward(ember.from_numpy(g_np))
        ty.backward(torch.from_numpy(g_np))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-3, atol=1e-3)
