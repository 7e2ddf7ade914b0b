"""Losses vs float64 numpy references: every loss and reduction, ignore_index edge cases,
label smoothing, class weights, K-dim inputs, gradients (closed form and gradcheck),
error messages; torch as an extra oracle when installed."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.autograd import gradcheck

REDUCTIONS = ["none", "mean", "sum"]


# ---- float64 references ------------------------------------------------------------------
def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _to_2d(x, t):
    """(N, C, d...) -> (M, C) and (M,), like ember's layout."""
    if x.ndim == 1:
        return x[None], np.asarray(t).reshape(1)
    c = x.shape[1]
    return np.moveaxis(x, 1, -1).reshape(-1, c), np.asarray(t).reshape(-1)


def ref_nll_2d(logp, t, weight, ignore_index, eps, reduction):
    m, c = logp.shape
    w = np.ones(c) if weight is None else weight
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    wt = np.where(valid, w[ts], 0.0)
    nll = -logp[np.arange(m), ts] * wt
    smooth = -(logp * w).sum(1)
    loss = np.where(valid, (1 - eps) * nll + eps / c * smooth, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return loss.sum() / wt.sum()


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    x2, t2 = _to_2d(x, t)
    out = ref_nll_2d(_log_softmax(x2, 1), t2, weight, ignore_index, eps, reduction)
    if reduction == "none":
        shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
        return out.reshape(shape)
    return out


def ref_cross_entropy_probs(x, y, weight=None, reduction="mean", eps=0.0):
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    logp = _log_softmax(x, cdim)
    y = y * (1 - eps) + eps / c
    if weight is not None:
        shape = [1] * x.ndim
        shape[cdim] = c
        y = y * weight.reshape(shape)
    loss = -(logp * y).sum(cdim)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def ref_pointwise(kind, x, y, param, reduction):
    d = x - y
    a = np.abs(d)
    if kind == "mse":
        loss = d * d
    elif kind == "l1":
        loss = a
    elif kind == "huber":
        loss = np.where(a <= param, 0.5 * d * d, param * (a - 0.5 * param))
    else:
        loss = (
            a - 0.5 * param
            if param == 0
            else np.where(a < param, 0.5 * d * d / param, a - 0.5 * param)
        )
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def ref_bce_logits(x, y, w, pw, reduction):
    log_sig = -np.logaddexp(0, -x)
    log_1msig = -np.logaddexp(0, x)
    p = 1.0 if pw is None else pw
    loss = -(p * y * log_sig + (1 - y) * log_1msig)
    if w is not None:
        loss = loss * w
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def ref_bce(x, y, w, reduction):
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))
    if w is not None:
        loss = loss * w
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def T(a, **kw):
    return ember.tensor(np.asarray(a), **kw)


def close(got, want, tol=1e-10):
    got = np.asarray(got.detach().double().numpy()) if isinstance(got, ember.Tensor) else got
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


# ---- cross_entropy -----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(1, 2), (3, 7), (17, 5), (33, 65), (2, 3, 4), (2, 5, 3, 2)])
def test_cross_entropy_indices(rng, reduction, eps, shape):
    x = rng.standard_normal(shape) * 3
    tshape = (shape[0],) + shape[2:]
    t = rng.integers(0, shape[1], tshape)
    t.reshape(-1)[::3] = -100  # some ignored
    got = F.cross_entropy(T(x), T(t), reduction=reduction, label_smoothing=eps)
    want = ref_cross_entropy(x, t, reduction=reduction, eps=eps)
    assert got.shape == np.shape(want)
    close(got, want)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_weight_and_ignore(rng, reduction, eps):
    x = rng.standard_normal((2, 6, 5))
    t = rng.integers(0, 6, (2, 5))
    t[0, :2] = 3  # a custom ignore_index
    w = rng.uniform(0.1, 2.0, 6)
    got = F.cross_entropy(
        T(x), T(t), weight=T(w), ignore_index=3, reduction=reduction, label_smoothing=eps
    )
    close(got, ref_cross_entropy(x, t, w, 3, reduction, eps))
    m = nn.CrossEntropyLoss(weight=T(w), ignore_index=3, reduction=reduction, label_smoothing=eps)
    close(m(T(x), T(t)), ref_cross_entropy(x, t, w, 3, reduction, eps))


def test_cross_entropy_all_ignored(rng):
    x = T(rng.standard_normal((4, 3)), requires_grad=True)
    t = T(np.full(4, -100))
    assert np.isnan(F.cross_entropy(x, t).item())  # 0 / 0 as in PyTorch
    assert np.isnan(F.cross_entropy(x, t, weight=ember.ones(3, dtype=ember.float64)).item())
    assert np.isnan(F.cross_entropy(x, t, label_smoothing=0.2).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    np.testing.assert_array_equal(F.cross_entropy(x, t, reduction="none").detach().numpy(), 0.0)
    F.cross_entropy(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    x.grad = None
    F.cross_entropy(x, t).backward()  # the gradient of a NaN-free-of-terms loss is zero
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


def test_cross_entropy_unbatched_and_dtypes(rng):
    x = rng.standard_normal(5)
    got = F.cross_entropy(T(x), T(np.int64(2)))
    assert got.shape == ()
    close(got, -_log_softmax(x, 0)[2])
    close(F.cross_entropy(T(x), T(np.int64(2)), reduction="none"), -_log_softmax(x, 0)[2])
    # int32 targets are accepted; float32 logits give float32 loss; bfloat16 stays bfloat16
    x2 = rng.standard_normal((6, 4)).astype(np.float32)
    t2 = rng.integers(0, 4, 6).astype(np.int32)
    out = F.cross_entropy(T(x2), T(t2))
    assert out.dtype is ember.float32
    close(out, ref_cross_entropy(x2.astype(np.float64), t2), tol=1e-5)
    assert F.cross_entropy(T(x2).bfloat16(), T(t2)).dtype is ember.bfloat16


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_probabilities(rng, reduction, eps):
    for shape in [(7,), (5, 4), (2, 3, 4, 2)]:
        x = rng.standard_normal(shape)
        cdim = 1 if len(shape) >= 2 else 0
        y = np.exp(_log_softmax(rng.standard_normal(shape), cdim))
        w = rng.uniform(0.5, 2, shape[cdim])
        close(
            F.cross_entropy(T(x), T(y), reduction=reduction, label_smoothing=eps),
            ref_cross_entropy_probs(x, y, None, reduction, eps),
        )
        close(
            F.cross_entropy(T(x), T(y), weight=T(w), reduction=reduction, label_smoothing=eps),
            ref_cross_entropy_probs(x, y, w, reduction, eps),
        )


def test_cross_entropy_float32_every_isa(isa, rng):
    x = rng.standard_normal((129, 33)).astype(np.float32) * 4
    t = rng.integers(0, 33, 129)
    t[::7] = -100
    for eps in (0.0, 0.1):
        xt = T(x, requires_grad=True)
        loss = F.cross_entropy(xt, T(t), label_smoothing=eps)
        close(loss, ref_cross_entropy(x.astype(np.float64), t, eps=eps), tol=2e-6)
        loss.backward()
        close(xt.grad, ref_ce_grad(x.astype(np.float64), t, eps), tol=2e-6)


def ref_ce_grad(x, t, eps, ignore_index=-100):
    """d mean-loss / d logits: (softmax - smoothed one-hot) / count on valid rows."""
    m, c = x.shape
    p = np.exp(_log_softmax(x, 1))
    valid = t != ignore_index
    q = np.full((m, c), eps / c)
    q[np.arange(m), np.where(valid, t, 0)] += 1 - eps
    return (p - q) * valid[:, None] / valid.sum()


def test_cross_entropy_gradient_closed_form(rng):
    x = rng.standard_normal((31, 17))
    t = rng.integers(0, 17, 31)
    t[[0, 5, 30]] = -100
    xt = T(x, requires_grad=True)
    F.cross_entropy(xt, T(t), label_smoothing=0.25).backward()
    close(xt.grad, ref_ce_grad(x, t, 0.25), tol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradcheck(rng, reduction):
    x = T(rng.standard_normal((3, 4)), requires_grad=True)
    t = T(np.array([1, -100, 3]))
    for eps in (0.0, 0.3):
        assert gradcheck(
            lambda a, e=eps: F.cross_entropy(a, t, reduction=reduction, label_smoothing=e), [x]
        )
    w = T(rng.uniform(0.5, 2, 4))
    assert gradcheck(
        lambda a: F.cross_entropy(a, t, weight=w, reduction=reduction, label_smoothing=0.2), [x]
    )
    xk = T(rng.standard_normal((2, 3, 2)), requires_grad=True)
    tk = T(rng.integers(0, 3, (2, 2)))
    assert gradcheck(lambda a: F.cross_entropy(a, tk, reduction=reduction), [xk])
    y = T(np.exp(_log_softmax(rng.standard_normal((3, 4)), 1)))
    assert gradcheck(lambda a: F.cross_entropy(a, y, reduction=reduction, label_smoothing=0.1), [x])


def test_cross_entropy_hot_path_goes_through_one_function(rng, monkeypatch):
    from ember.ops import loss as L

    calls = []
    real = L._cross_entropy_indices

    def spy(*args):
        calls.append(args[2:])
        return real(*args)

    monkeypatch.setattr(L, "_cross_entropy_indices", spy)
    x = T(rng.standard_normal((2, 5, 3)))
    F.cross_entropy(x, T(rng.integers(0, 5, (2, 3))), ignore_index=-1, label_smoothing=0.1)
    assert calls == [(-1, 0.1, "mean")]
    F.cross_entropy(x, T(rng.integers(0, 5, (2, 3))), weight=ember.ones(5, dtype=ember.float64))
    assert len(calls) == 1  # class weights take the composite path


# ---- nll_loss ------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(rng, reduction):
    for shape in [(9, 4), (2, 4, 3), (4,)]:
        logp = _log_softmax(rng.standard_normal(shape), 1 if len(shape) > 1 else 0)
        tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
        t = rng.integers(0, 4, tshape)
        if t.ndim:
            t.reshape(-1)[0] = -100
        w = rng.uniform(0.2, 3, 4)
        x2, t2 = _to_2d(logp, t)
        for weight in (None, w):
            want = ref_nll_2d(x2, t2, weight, -100, 0.0, reduction)
            if reduction == "none":
                want = want.reshape(tshape)
            got = F.nll_loss(
                T(logp), T(t), None if weight is None else T(weight), reduction=reduction
            )
            close(got, want)
    m = nn.NLLLoss(weight=T(w), reduction=reduction)
    logp = _log_softmax(rng.standard_normal((5, 4)), 1)
    t = rng.integers(0, 4, 5)
    close(m(T(logp), T(t)), ref_nll_2d(logp, t, w, -100, 0.0, reduction))
    x = T(logp, requires_grad=True)
    assert gradcheck(lambda a: F.nll_loss(a, T(t), T(w), reduction=reduction), [x])


def test_nll_all_ignored_is_nan():
    x = ember.zeros(2, 3, dtype=ember.float64)
    assert np.isnan(F.nll_loss(x, T(np.array([-100, -100]))).item())
    assert F.nll_loss(x, T(np.array([-100, -100])), reduction="sum").item() == 0.0


# ---- regression losses ---------------------------------------------------------------------
POINTWISE = [
    ("mse", lambda x, y, r, p: F.mse_loss(x, y, reduction=r), None),
    ("l1", lambda x, y, r, p: F.l1_loss(x, y, reduction=r), None),
    ("huber", lambda x, y, r, p: F.huber_loss(x, y, reduction=r, delta=p), 0.7),
    ("huber", lambda x, y, r, p: F.huber_loss(x, y, reduction=r, delta=p), 1.0),
    ("smooth_l1", lambda x, y, r, p: F.smooth_l1_loss(x, y, reduction=r, beta=p), 0.5),
    ("smooth_l1", lambda x, y, r, p: F.smooth_l1_loss(x, y, reduction=r, beta=p), 0.0),
]


@pytest.mark.parametrize("kind,fn,param", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_losses(rng, kind, fn, param, reduction):
    for shape in [(1,), (7,), (3, 17), (2, 3, 5), (1025,), (100003,)]:
        x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
        close(fn(T(x), T(y), reduction, param), ref_pointwise(kind, x, y, param, reduction))
    x32 = rng.standard_normal((33, 65)).astype(np.float32)
    y32 = rng.standard_normal((33, 65)).astype(np.float32)
    got = fn(T(x32), T(y32), reduction, param)
    assert got.dtype is ember.float32
    close(
        got,
        ref_pointwise(kind, x32.astype(np.float64), y32.astype(np.float64), param, reduction),
        tol=1e-5,
    )


@pytest.mark.parametrize("kind,fn,param", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_gradcheck(rng, kind, fn, param, reduction):
    # keep |x - y| away from the kinks (0, delta, beta) for finite differences
    d = rng.uniform(0.1, 0.4, (2, 3)) * rng.choice([-1, 1], (2, 3))
    d[0, :2] = [1.9, -2.2]
    y = rng.standard_normal((2, 3))
    x = T(y + d, requires_grad=True)
    yt = T(y, requires_grad=True)
    assert gradcheck(lambda a, b: fn(a, b, reduction, param), [x, yt])


def test_pointwise_modules(rng):
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    close(nn.MSELoss()(T(x), T(y)), ref_pointwise("mse", x, y, None, "mean"))
    close(nn.L1Loss(reduction="sum")(T(x), T(y)), ref_pointwise("l1", x, y, None, "sum"))
    close(nn.HuberLoss(delta=0.3)(T(x), T(y)), ref_pointwise("huber", x, y, 0.3, "mean"))
    close(
        nn.SmoothL1Loss(reduction="none", beta=2.0)(T(x), T(y)),
        ref_pointwise("smooth_l1", x, y, 2.0, "none"),
    )
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"


# ---- binary cross-entropy ------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(rng, reduction):
    x = rng.standard_normal((17, 5)) * 10  # large logits: the stable form matters
    x[0, 0], x[0, 1] = 80.0, -80.0
    y = rng.uniform(0, 1, (17, 5))
    w = rng.uniform(0.1, 2, (17, 1))
    pw = rng.uniform(0.5, 3, 5)
    for weight in (None, w):
        for pos_weight in (None, pw):
            got = F.binary_cross_entropy_with_logits(
                T(x),
                T(y),
                None if weight is None else T(weight),
                reduction=reduction,
                pos_weight=None if pos_weight is None else T(pos_weight),
            )
            close(got, ref_bce_logits(x, y, weight, pos_weight, reduction), tol=1e-9)
    m = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=T(pw))
    close(m(T(x), T(y)), ref_bce_logits(x, y, None, pw, reduction), tol=1e-9)
    assert "pos_weight" in m.state_dict()
    xs = T(rng.standard_normal((2, 3)), requires_grad=True)
    ys = T(rng.uniform(0, 1, (2, 3)), requires_grad=True)
    ws = T(rng.uniform(0.5, 1, (2, 1)))
    for weight in (None, ws):
        for pos_weight in (None, T(rng.uniform(0.5, 3, 3))):
            assert gradcheck(
                lambda a, b, w=weight, p=pos_weight: F.binary_cross_entropy_with_logits(
                    a, b, w, reduction=reduction, pos_weight=p
                ),
                [xs, ys],
            )


def test_bce_with_logits_float32_extremes(isa):
    x = T(np.array([-200.0, -30.0, 0.0, 30.0, 200.0], dtype=np.float32), requires_grad=True)
    y = T(np.array([1.0, 1.0, 0.5, 0.0, 0.0], dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    want = ref_bce_logits(
        np.array([-200.0, -30, 0, 30, 200]), np.array([1.0, 1, 0.5, 0, 0]), None, None, "none"
    )
    assert np.isfinite(loss.detach().numpy()).all()
    close(loss, want, tol=1e-5)
    loss.sum().backward()
    close(
        x.grad,
        1 / (1 + np.exp(-np.array([-200.0, -30, 0, 30, 200]))) - np.array([1.0, 1, 0.5, 0, 0]),
        tol=1e-6,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(rng, reduction):
    x = rng.uniform(0.01, 0.99, (6, 4))
    x[0, 0], x[0, 1] = 0.0, 1.0  # log clamped at -100, as in PyTorch
    y = rng.uniform(0, 1, (6, 4))
    w = rng.uniform(0.5, 2, (4,))
    close(F.binary_cross_entropy(T(x), T(y), reduction=reduction), ref_bce(x, y, None, reduction))
    close(nn.BCELoss(T(w), reduction=reduction)(T(x), T(y)), ref_bce(x, y, w, reduction))
    xs = T(rng.uniform(0.2, 0.8, (2, 3)), requires_grad=True)
    ys = T(rng.uniform(0, 1, (2, 3)), requires_grad=True)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [xs, ys])


# ---- errors --------------------------------------------------------------------------------
def test_errors(rng):
    x = T(rng.standard_normal((4, 3)))
    t = T(np.array([0, 1, 2, 0]))
    with pytest.raises(
        ValueError,
        match="ember.cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'",
    ):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(
        ValueError, match=r"expected target of shape \(4,\) for input of shape \(4, 3\)"
    ):
        F.cross_entropy(x, T(np.array([0, 1, 2])))
    with pytest.raises(
        TypeError,
        match="ember.cross_entropy: target of class indices must be an integer tensor, got ember.f",
    ):
        F.cross_entropy(x, T(np.zeros(4)))
    with pytest.raises(TypeError, match="integer tensor, got ember.bool"):
        F.cross_entropy(x, T(np.zeros(4, dtype=bool)))
    with pytest.raises(TypeError, match="ember.cross_entropy: input must be a floating tensor"):
        F.cross_entropy(t, t)
    with pytest.raises(
        IndexError, match="ember.cross_entropy: a target is out of bounds for 3 classes"
    ):
        F.cross_entropy(x, T(np.array([0, 1, 3, 0])))
    with pytest.raises(IndexError, match="out of bounds for 3 classes"):
        F.cross_entropy(x, T(np.array([0, -1, 2, 0])))
    with pytest.raises(IndexError, match="ember.nll_loss"):
        F.nll_loss(x, T(np.array([0, 1, 7, 0])), weight=T(np.ones(3)))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, t, weight=T(np.ones(4)))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.cross_entropy(T(np.float64(1.0)), T(np.int64(0)))
    with pytest.raises(
        ValueError, match=r"ember.mse_loss: input shape \(4, 3\) and target shape \(4,\) differ"
    ):
        F.mse_loss(x, T(np.zeros(4)))
    with pytest.raises(ValueError, match="ember.l1_loss: reduction"):
        F.l1_loss(x, x, reduction="max")
    with pytest.raises(
        TypeError,
        match="_with_logits: target must be a floating tensor, got ember.int64",
    ):
        F.binary_cross_entropy_with_logits(x, T(np.zeros((4, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(4,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=T(np.ones(4)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(x, x.sigmoid())
    with pytest.raises(ValueError, match="delta must be positive"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction"):
        nn.CrossEntropyLoss(reduction="elementwise")
    with pytest.raises(TypeError, match="expected a Tensor for target"):
        F.mse_loss(x, [1.0])


def test_loss_modules_state_and_repr(rng):
    w = T(rng.uniform(0.5, 2, 3))
    m = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    assert list(m.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    m.to(ember.float32)
    assert m.weight.dtype is ember.float32
    x = T(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    t = T(rng.integers(0, 3, 5))
    loss = m(x, t)
    loss.backward()
    assert x.grad.shape == (5, 3)


# ---- torch as an extra oracle ------------------------------------------------------------------
def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional

    def both(fn_e, fn_t, *arrays, grad_idx=(0,), **kw):
        ets = [
            T(a, requires_grad=(i in grad_idx)) if a is not None else None
            for i, a in enumerate(arrays)
        ]
        tts = [
            torch.tensor(a, requires_grad=(i in grad_idx)) if a is not None else None
            for i, a in enumerate(arrays)
        ]
        le, lt = fn_e(*ets, **kw), fn_t(*tts, **kw)
        close(le, lt.detach().numpy(), tol=1e-9)
        le.sum().backward()
        lt.sum().backward()
        for i in grad_idx:
            close(ets[i].grad, tts[i].grad.numpy(), tol=1e-9)

    x = rng.standard_normal((6, 5, 3))
    t = rng.integers(0, 5, (6, 3))
    t[0, 0] = t[2, 1] = 4  # ignored below
    w = rng.uniform(0.2, 2, 5)
    for red in REDUCTIONS:
        for eps in (0.0, 0.15):
            for weight in (None, w):
                both(
                    F.cross_entropy,
                    tF.cross_entropy,
                    x,
                    t,
                    weight,
                    reduction=red,
                    label_smoothing=eps,
                    ignore_index=4,
                )
        y = np.exp(_log_softmax(rng.standard_normal((6, 5, 3)), 1))
        both(F.cross_entropy, tF.cross_entropy, x, y, w, reduction=red, label_smoothing=0.1)
        lp = _log_softmax(x, 1)
        both(F.nll_loss, tF.nll_loss, lp, t, w, reduction=red, ignore_index=4)
        a, b = rng.standard_normal((4, 7)), rng.standard_normal((4, 7))
        both(F.mse_loss, tF.mse_loss, a, b, grad_idx=(0, 1), reduction=red)
        both(F.l1_loss, tF.l1_loss, a, b, grad_idx=(0, 1), reduction=red)
        both(F.huber_loss, tF.huber_loss, a, b, grad_idx=(0, 1), reduction=red, delta=0.6)
        both(F.smooth_l1_loss, tF.smooth_l1_loss, a, b, grad_idx=(0, 1), reduction=red, beta=0.6)
        yb = rng.uniform(0, 1, (4, 7))
        wb = rng.uniform(0.5, 2, (4, 1))
        for pw in (None, rng.uniform(0.5, 2, 7)):
            xe, ye = T(a * 5, requires_grad=True), T(yb, requires_grad=True)
            xt, yt = torch.tensor(a * 5, requires_grad=True), torch.tensor(yb, requires_grad=True)
            le = F.binary_cross_entropy_with_logits(
                xe, ye, T(wb), reduction=red, pos_weight=None if pw is None else T(pw)
            )
            lt = tF.binary_cross_entropy_with_logits(
                xt,
                yt,
                torch.tensor(wb),
                reduction=red,
                pos_weight=None if pw is None else torch.tensor(pw),
            )
            close(le, lt.detach().numpy(), tol=1e-9)
            le.sum().backward()
            lt.sum().backward()
            close(xe.grad, xt.grad.numpy(), tol=1e-9)
            close(ye.grad, yt.grad.numpy(), tol=1e-9)
        p = rng.uniform(0.05, 0.95, (4, 7))
        both(F.binary_cross_entropy, tF.binary_cross_entropy, p, yb, grad_idx=(0, 1), reduction=red)
