"""LR schedulers: lr sequences against closed forms and torch.optim.lr_scheduler,
chaining, SequentialLR, OneCycleLR (momentum/betas too), state_dict round trips."""

from __future__ import annotations

import math
import pickle
import warnings

import pytest

import ember
import ember.optim as optim
from ember import nn
from ember.optim import lr_scheduler as S

N = 40


def make_opt(kind="SGD", groups=1, **kw):
    ps = [nn.Parameter(ember.zeros(2)) for _ in range(groups)]
    lrs = [0.1 * (i + 1) for i in range(groups)]
    return getattr(optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], **kw)


def lr_sequence(opt, sched, n=N):
    out = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
    return out


def assert_seq(seq, expect):
    assert len(seq) == len(expect)
    for got, want in zip(seq, expect):
        assert got == pytest.approx(want, rel=1e-10, abs=1e-15)


BASE = [0.1, 0.2]


def closed(fn):
    return [[fn(b, t) for b in BASE] for t in range(N + 1)]


CLOSED_FORMS = {
    "StepLR": (dict(step_size=7, gamma=0.5), lambda b, t: b * 0.5 ** (t // 7)),
    "MultiStepLR": (
        dict(milestones=[3, 10, 10, 25], gamma=0.3),
        lambda b, t: b * 0.3 ** sum(m <= t for m in [3, 10, 10, 25]),
    ),
    "ExponentialLR": (dict(gamma=0.9), lambda b, t: b * 0.9**t),
    "CosineAnnealingLR": (
        dict(T_max=15, eta_min=0.01),
        lambda b, t: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * t / 15)) / 2,
    ),
    "LinearLR": (
        dict(start_factor=0.25, end_factor=0.9, total_iters=12),
        lambda b, t: b * (0.25 + 0.65 * min(t, 12) / 12),
    ),
    "ConstantLR": (dict(factor=0.5, total_iters=4), lambda b, t: b * (0.5 if t < 4 else 1.0)),
    "PolynomialLR": (dict(total_iters=20, power=2.0), lambda b, t: b * (1 - min(t, 20) / 20) ** 2),
    "LambdaLR": (dict(lr_lambda=lambda e: 1 / (1 + e)), lambda b, t: b / (1 + t)),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_closed_forms(name):
    kw, fn = CLOSED_FORMS[name]
    opt = make_opt(groups=2)
    sched = getattr(S, name)(opt, **kw)
    assert sched.last_epoch == 0
    assert_seq(lr_sequence(opt, sched), closed(fn))
    assert sched.last_epoch == N
    assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def _torch_opt(torch, kind="SGD", groups=2, **kw):
    ps = [torch.zeros(2, requires_grad=True) for _ in range(groups)]
    return getattr(torch.optim, kind)(
        [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ps)], **kw
    )


def _torch_seq(torch, opt, sched, n=N, extra=None):
    out = [sched.get_last_lr()]
    ex = [extra(opt)] if extra else []
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        if extra:
            ex.append(extra(opt))
    return out, ex


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    kw, _ = CLOSED_FORMS[name]
    ours = lr_sequence(opt := make_opt(groups=2), getattr(S, name)(opt, **kw))
    topt = _torch_opt(torch)
    theirs, _ = _torch_seq(torch, topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw))
    assert_seq(ours, theirs)


def test_chaining_two_schedulers():
    opt = make_opt(groups=2)
    a = S.ExponentialLR(opt, gamma=0.9)
    b = S.StepLR(opt, step_size=5, gamma=0.5)
    seq = [[g["lr"] for g in opt.param_groups]]
    for _ in range(N):
        opt.step()
        a.step()
        b.step()
        seq.append([g["lr"] for g in opt.param_groups])
    assert_seq(seq, closed(lambda base, t: base * 0.9**t * 0.5 ** (t // 5)))
    assert b.get_last_lr() == seq[-1]


def test_chained_scheduler_matches_torch():
    torch = pytest.importorskip("torch")
    opt = make_opt(groups=2)
    ch = S.ChainedScheduler(
        [S.ConstantLR(opt, factor=0.5, total_iters=3), S.ExponentialLR(opt, 0.9)]
    )
    ours = lr_sequence(opt, ch, 10)
    topt = _torch_opt(torch)
    tch = torch.optim.lr_scheduler
    tsched = tch.ChainedScheduler(
        [tch.ConstantLR(topt, factor=0.5, total_iters=3), tch.ExponentialLR(topt, 0.9)]
    )
    theirs, _ = _torch_seq(torch, topt, tsched, 10)
    assert_seq(ours, theirs)


def test_sequential_warmup_cosine():
    opt = make_opt(groups=2)
    warm = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
    cos = S.CosineAnnealingLR(opt, T_max=20, eta_min=0.0)
    seq_s = S.SequentialLR(opt, [warm, cos], milestones=[5])
    seq = lr_sequence(opt, seq_s, 25)

    def f(b, t):
        if t < 5:
            return b * (0.1 + 0.9 * t / 5)
        return b * (1 + math.cos(math.pi * (t - 5) / 20)) / 2

    assert_seq(seq, [[f(b, t) for b in BASE] for t in range(26)])
    torch = pytest.importorskip("torch")
    topt = _torch_opt(torch)
    tch = torch.optim.lr_scheduler
    tseq = tch.SequentialLR(
        topt,
        [tch.LinearLR(topt, 0.1, 1.0, 5), tch.CosineAnnealingLR(topt, T_max=20)],
        milestones=[5],
    )
    theirs, _ = _torch_seq(torch, topt, tseq, 25)
    assert_seq(seq, theirs)


def _onecycle_expected(t, total, max_lr, pct, strategy, three, div=25.0, final=1e4):
    """Closed form of the 1cycle schedule (lr, momentum) at step t."""
    init, lo = max_lr / div, max_lr / div / final
    ann = (
        (lambda a, b, x: b + (a - b) / 2 * (math.cos(math.pi * x) + 1))
        if strategy == "cos"
        else (lambda a, b, x: a + (b - a) * x)
    )
    if three:
        e1, e2, e3 = pct * total - 1, 2 * pct * total - 2, total - 1
        if t <= e1:
            return ann(init, max_lr, t / e1), ann(0.95, 0.85, t / e1)
        if t <= e2:
            x = (t - e1) / (e2 - e1)
            return ann(max_lr, init, x), ann(0.85, 0.95, x)
        x = (t - e2) / (e3 - e2)
        return ann(init, lo, x), 0.95
    e1, e2 = pct * total - 1, total - 1
    if t <= e1:
        return ann(init, max_lr, t / e1), ann(0.95, 0.85, t / e1)
    x = (t - e1) / (e2 - e1)
    return ann(max_lr, lo, x), ann(0.85, 0.95, x)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_onecycle(strategy, three_phase, kind):
    total = 50
    opt = make_opt(kind, groups=1)
    sched = S.OneCycleLR(
        opt,
        max_lr=1.0,
        total_steps=total,
        pct_start=0.3,
        anneal_strategy=strategy,
        three_phase=three_phase,
    )
    for t in range(total):
        lr, mom = _onecycle_expected(t, total, 1.0, 0.3, strategy, three_phase)
        g = opt.param_groups[0]
        assert g["lr"] == pytest.approx(lr, rel=1e-12)
        got_m = g["betas"][0] if kind == "Adam" else g["momentum"]
        assert got_m == pytest.approx(mom, rel=1e-12)
        opt.step()
        if t < total - 1:
            sched.step()
    sched.step()  # step == total is allowed, one more is not
    with pytest.raises(ValueError, match="total steps"):
        sched.step()
    torch = pytest.importorskip("torch")
    topt = _torch_opt(torch, kind, groups=1)
    ts = torch.optim.lr_scheduler.OneCycleLR(
        topt,
        max_lr=1.0,
        total_steps=total,
        pct_start=0.3,
        anneal_strategy=strategy,
        three_phase=three_phase,
    )
    key = (
        (lambda o: o.param_groups[0]["betas"][0])
        if kind == "Adam"
        else (lambda o: o.param_groups[0]["momentum"])
    )
    theirs, tmom = _torch_seq(torch, topt, ts, total - 1, key)
    opt = make_opt(kind, groups=1)
    sched = S.OneCycleLR(
        opt,
        max_lr=1.0,
        total_steps=total,
        pct_start=0.3,
        anneal_strategy=strategy,
        three_phase=three_phase,
    )
    ours = lr_sequence(opt, sched, total - 1)
    assert_seq(ours, theirs)


def test_onecycle_epochs_and_errors():
    opt = make_opt()
    s = S.OneCycleLR(opt, max_lr=[0.5], epochs=3, steps_per_epoch=4)
    assert s.total_steps == 12
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(make_opt(), max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(make_opt(), max_lr=0.1, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="same length"):
        S.OneCycleLR(make_opt(), max_lr=[0.1, 0.2], total_steps=5)
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(make_opt("Adagrad"), max_lr=0.1, total_steps=5)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "LinearLR", "MultiStepLR"])
def test_state_dict_resume(name):
    kw, _ = CLOSED_FORMS[name]
    opt = make_opt(groups=2)
    sched = getattr(S, name)(opt, **kw)
    full = lr_sequence(opt, sched, N)
    opt2 = make_opt(groups=2)
    s2 = getattr(S, name)(opt2, **kw)
    part = lr_sequence(opt2, s2, 15)
    saved = pickle.loads(pickle.dumps((s2.state_dict(), opt2.state_dict())))
    opt3 = make_opt(groups=2)
    s3 = getattr(S, name)(opt3, **kw)
    opt3.load_state_dict(saved[1])
    s3.load_state_dict(saved[0])
    assert s3.last_epoch == 15 and s3.get_last_lr() == part[-1]
    rest = lr_sequence(opt3, s3, N - 15)
    assert_seq(part + rest[1:], full)


def test_sequential_state_dict():
    def build():
        opt = make_opt()
        return opt, S.SequentialLR(
            opt, [S.ConstantLR(opt, 0.5, 3), S.ExponentialLR(opt, 0.8)], milestones=[3]
        )

    opt, s = build()
    full = lr_sequence(opt, s, 12)
    opt2, s2 = build()
    lr_sequence(opt2, s2, 6)
    sd = s2.state_dict()
    assert isinstance(sd["_schedulers"], list) and "optimizer" not in sd
    opt3, s3 = build()
    opt3.load_state_dict(opt2.state_dict())
    s3.load_state_dict(sd)
    rest = lr_sequence(opt3, s3, 6)
    assert_seq(full[6:], rest)


def test_lambda_state_dict_keeps_callable_objects():
    class Warm:
        def __init__(self):
            self.n = 3

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    opt = make_opt()
    f = Warm()
    s = S.LambdaLR(opt, f)
    f.n = 7
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"n": 7}]
    g = Warm()
    S.LambdaLR(make_opt(), g).load_state_dict(sd)
    assert g.n == 7


def test_order_warning_and_resume_needs_initial_lr():
    opt = make_opt()
    s = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        s.step()
    opt = make_opt()
    s = S.StepLR(opt, 2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), 2, last_epoch=3)
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), 2)
    with pytest.raises(ValueError, match="milestone"):
        o = make_opt()
        S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[])


def test_scheduled_lr_reaches_kernel():
    """The lr the scheduler writes is the one the next step uses."""
    p = nn.Parameter(ember.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    s = S.ExponentialLR(opt, gamma=0.5)
    total = 0.0
    for t in range(5):
        p.grad = ember.ones(1)
        opt.step()
        total += 0.5**t
        s.step()
    assert p.detach().numpy()[0] == pytest.approx(-total, rel=1e-6)
