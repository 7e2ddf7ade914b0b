"""Adadelta, Adamax, NAdam, RAdam and ASGD: trajectories and state against torch.optim
(float32 and float64, every ISA for the fused kernels), against float64 numpy references of
the documented rules, mid-training checkpoints through ember.save / ember.load, LR
schedulers, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.optim as optim
from ember import nn

SHAPES = [(1,), (7,), (4, 17), (3, 5, 7), (1025,)]

GRID = {
    "Adadelta": [
        dict(),
        dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1),
        dict(rho=0.95, maximize=True),
    ],
    "Adamax": [
        dict(),
        dict(lr=1e-2, betas=(0.8, 0.9), weight_decay=0.1),
        dict(eps=1e-3, maximize=True, weight_decay=0.01),
    ],
    "NAdam": [
        dict(),
        dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.01),
        dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    ],
    "RAdam": [
        dict(),
        dict(lr=1e-2, betas=(0.9, 0.9), weight_decay=0.1),  # rectifies from step 5
        dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    ],
    "ASGD": [
        dict(),
        dict(lr=0.05, lambd=0.1, alpha=0.5, t0=5, weight_decay=0.1),  # averages from step 6
        dict(lr=0.05, t0=0, maximize=True),
    ],
}
CASES = [(k, h) for k, hs in GRID.items() for h in hs]
IDS = [f"{k}-{i}" for k, hs in GRID.items() for i in range(len(hs))]
FUSED = [c for c in CASES if c[0] != "ASGD"]
FUSED_IDS = [i for i, c in zip(IDS, CASES) if c[0] != "ASGD"]


def make_problem(rng, dtype, steps, none_every=5):
    """Random parameters and per-step gradients; param i has no gradient when
    (step + i) % none_every == 0, so the per-parameter step counts differ."""
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [
        [
            None if (s + i) % none_every == 0 else rng.standard_normal(p.shape).astype(dtype)
            for i, p in enumerate(params)
        ]
        for s in range(steps)
    ]
    return params, grads


def feed(ps, gs, wrap):
    for p, g in zip(ps, gs):
        p.grad = None if g is None else wrap(g.copy())


def run_ember(kind, hyper, params, grads):
    ps = [nn.Parameter(ember.from_numpy(p.copy())) for p in params]
    opt = getattr(optim, kind)(ps, **hyper)
    for gs in grads:
        feed(ps, gs, ember.from_numpy)
        opt.step()
    return ps, opt


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1.0))


def check_torch(rng, kind, hyper, dtype, steps=30):
    torch = pytest.importorskip("torch")
    params, grads = make_problem(rng, dtype, steps)
    ps, opt = run_ember(kind, hyper, params, grads)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = getattr(torch.optim, kind)(tp, **hyper)
    for gs in grads:
        feed(tp, gs, torch.from_numpy)
        topt.step()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for p, t in zip(ps, tp):
        assert rel_err(p.detach().numpy(), t.detach().numpy()) <= tol
    tsd, sd = topt.state_dict(), opt.state_dict()
    assert sorted(tsd["state"]) == sorted(sd["state"])
    for i, st in tsd["state"].items():
        assert set(st) == set(sd["state"][i])
        for key, val in st.items():
            ours = sd["state"][i][key]
            assert tuple(ours.shape) == tuple(val.shape), key
            assert rel_err(ours.numpy(), val.numpy()) <= tol, key


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind,hyper", CASES, ids=IDS)
def test_matches_torch(rng, kind, hyper, dtype):
    check_torch(rng, kind, hyper, dtype)


@pytest.mark.parametrize("kind,hyper", FUSED, ids=FUSED_IDS)
def test_matches_torch_every_isa(isa, rng, kind, hyper):
    check_torch(rng, kind, hyper, np.float32, steps=20)


# ---- float64 numpy references of the documented rules ------------------------------------
def ref_adadelta(p, gs, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    sq, acc = np.zeros_like(p), np.zeros_like(p)
    for g in gs:
        g = g + weight_decay * p
        sq = rho * sq + (1 - rho) * g * g
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


def ref_adamax(p, gs, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        p = p - lr / (1 - b1**t) * m / u
    return p


def ref_nadam(p, gs, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    m, v, prod = np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(gs, 1):
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        # the product is a float32 state scalar (as in torch), float64 parameters too
        prod = float(np.float32(prod) * np.float32(mu))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_hat = v / (1 - b2**t)
        m_hat = mu_next * m / (1 - prod * mu_next) + (1 - mu) * g / (1 - prod)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_radam(p, gs, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(p), np.zeros_like(p)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > 5:
            l_t = np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
            r_t = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            p = p - lr * m_hat * l_t * r_t
        else:
            p = p - lr * m_hat
    return p


def ref_asgd(p, gs, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6):
    # eta and mu are float32 state scalars (as in torch), float64 parameters too
    eta, mu, ax = float(np.float32(lr)), 1.0, np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        p = p * (1 - lambd * eta) - eta * g
        ax = p.copy() if mu == 1 else ax + mu * (p - ax)
        eta = float(np.float32(lr / (1 + lambd * lr * t) ** alpha))
        mu = float(np.float32(1 / max(1, t - t0)))
    return p, ax


REFS = {
    "Adadelta": (
        lambda p, gs: ref_adadelta(p, gs, lr=0.5, rho=0.8, weight_decay=0.1),
        dict(lr=0.5, rho=0.8, weight_decay=0.1),
    ),
    "Adamax": (ref_adamax, {}),
    "NAdam": (ref_nadam, {}),
    "RAdam": (lambda p, gs: ref_radam(p, gs, b2=0.9), dict(betas=(0.9, 0.9))),
    "ASGD": (lambda p, gs: ref_asgd(p, gs, lambd=0.1, t0=5)[0], dict(lambd=0.1, t0=5)),
}


@pytest.mark.parametrize("kind", list(REFS))
def test_float64_matches_numpy_reference(rng, kind):
    ref, hyper = REFS[kind]
    p0 = rng.standard_normal((6, 5))
    gs = [rng.standard_normal((6, 5)) for _ in range(25)]
    ps, _ = run_ember(kind, hyper, [p0], [[g] for g in gs])
    np.testing.assert_allclose(ps[0].detach().numpy(), ref(p0, gs), rtol=1e-10, atol=1e-12)


def test_asgd_average_matches_reference(rng):
    p0 = rng.standard_normal(9)
    gs = [rng.standard_normal(9) for _ in range(20)]
    ps, opt = run_ember("ASGD", dict(lambd=0.1, t0=5), [p0], [[g] for g in gs])
    _, ax = ref_asgd(p0, gs, lambd=0.1, t0=5)
    np.testing.assert_allclose(opt.state[ps[0]]["ax"].numpy(), ax, rtol=1e-12)


# ---- checkpoints, schedulers ---------------------------------------------------------------
@pytest.mark.parametrize("kind,hyper", CASES, ids=IDS)
def test_checkpoint_through_ember_save_continues_identically(rng, tmp_path, kind, hyper):
    params, grads = make_problem(rng, np.float32, 20)
    ps, opt = run_ember(kind, hyper, params, grads[:10])
    f = tmp_path / "ckpt.ember"
    ember.save({"optim": opt.state_dict(), "epoch": 10}, f)
    ps2 = [nn.Parameter(ember.from_numpy(p.detach().numpy().copy())) for p in ps]
    opt2 = getattr(optim, kind)(ps2, lr=123.0)
    loaded = ember.load(f)
    assert loaded["epoch"] == 10
    opt2.load_state_dict(loaded["optim"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for gs in grads[10:]:
        feed(ps, gs, ember.from_numpy)
        feed(ps2, gs, ember.from_numpy)
        opt.step()
        opt2.step()
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.detach().numpy(), p2.detach().numpy())
    a, b = opt.state_dict()["state"], opt2.state_dict()["state"]
    for i in a:
        for k in a[i]:
            np.testing.assert_array_equal(a[i][k].numpy(), b[i][k].numpy())
            assert a[i][k].dtype == b[i][k].dtype and tuple(a[i][k].shape) == tuple(b[i][k].shape)


@pytest.mark.parametrize("kind", list(GRID))
def test_lr_scheduler_drives_the_learning_rate(rng, kind):
    torch = pytest.importorskip("torch")
    params, grads = make_problem(rng, np.float64, 24)
    ps = [nn.Parameter(ember.from_numpy(p.copy())) for p in params]
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt, topt = getattr(optim, kind)(ps, lr=0.05), getattr(torch.optim, kind)(tp, lr=0.05)
    sched = optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=5, gamma=0.5)
    for gs in grads:
        feed(ps, gs, ember.from_numpy)
        feed(tp, gs, torch.from_numpy)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
    for p, t in zip(ps, tp):
        assert rel_err(p.detach().numpy(), t.detach().numpy()) <= 1e-12


def test_small_model_trains_like_torch(rng):
    """A two-layer net on a regression problem: gradients come from backward, so the
    trajectories feed back; NAdam and Adadelta follow torch for 25 steps."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    for kind, hyper in [("NAdam", dict(lr=1e-2)), ("Adadelta", dict()), ("RAdam", dict(lr=1e-2))]:
        em = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        with torch.no_grad():
            for tpar, epar in zip(tm.parameters(), em.parameters()):
                tpar.copy_(torch.from_numpy(epar.detach().numpy().copy()))
        opt, topt = (
            getattr(optim, kind)(em.parameters(), **hyper),
            getattr(torch.optim, kind)(tm.parameters(), **hyper),
        )
        ex, ey, tx, ty = (
            ember.from_numpy(x),
            ember.from_numpy(y),
            torch.from_numpy(x),
            torch.from_numpy(y),
        )
        for _ in range(25):
            opt.zero_grad()
            topt.zero_grad()
            loss = ((em(ex) - ey) ** 2).mean()
            tloss = ((tm(tx) - ty) ** 2).mean()
            loss.backward()
            tloss.backward()
            opt.step()
            topt.step()
            assert abs(loss.item() - tloss.item()) <= 1e-5 * max(1.0, abs(tloss.item())), kind


# ---- argument checks --------------------------------------------------------------------------
def param():
    return nn.Parameter(ember.ones(3))


@pytest.mark.parametrize("kind", list(GRID))
def test_negative_lr_and_weight_decay(kind):
    for key in ("lr", "weight_decay"):
        with pytest.raises(ValueError, match=rf"ember\.optim\.{kind}: invalid .*-0\.5"):
            getattr(optim, kind)([param()], **{key: -0.5})


@pytest.mark.parametrize(
    "kind,kwargs,match",
    [
        ("Adadelta", dict(rho=1.5), "invalid rho value"),
        ("Adadelta", dict(rho=-0.1), "invalid rho value"),
        ("Adadelta", dict(eps=-1.0), "invalid epsilon"),
        ("Adamax", dict(betas=(1.0, 0.9)), "invalid beta parameter at index 0"),
        ("Adamax", dict(eps=-1.0), "invalid epsilon"),
        ("NAdam", dict(momentum_decay=-1.0), "invalid momentum_decay"),
        ("NAdam", dict(betas=(0.9, 1.0)), "invalid beta parameter at index 1"),
        ("RAdam", dict(betas=(0.9, -0.1)), "invalid beta parameter at index 1"),
    ],
)
def test_value_errors(kind, kwargs, match):
    with pytest.raises(ValueError, match=rf"ember\.optim\.{kind}: {match}"):
        getattr(optim, kind)([param()], **kwargs)


@pytest.mark.parametrize(
    "kind,kwargs,match",
    [
        ("NAdam", dict(decoupled_weight_decay="yes"), "decoupled_weight_decay must be a bool"),
        ("RAdam", dict(maximize=1), "maximize must be a bool"),
        ("ASGD", dict(t0="soon"), "t0 must be a number"),
        ("Adadelta", dict(rho="0.9"), "rho must be a number"),
    ],
)
def test_type_errors(kind, kwargs, match):
    with pytest.raises(TypeError, match=rf"ember\.optim\.{kind}: {match}"):
        getattr(optim, kind)([param()], **kwargs)


@pytest.mark.parametrize("kind", [k for k in GRID if k != "ASGD"])
def test_skip_nonfinite(rng, kind):
    ps = [nn.Parameter(ember.from_numpy(rng.standard_normal(40).astype(np.float32)))]
    opt = getattr(optim, kind)(ps, skip_nonfinite=True)
    ps[0].grad = ember.ones(40)
    opt.step()
    before = ps[0].detach().numpy().copy()
    state = {k: v.numpy().copy() for k, v in opt.state[ps[0]].items()}
    bad = np.ones(40, np.float32)
    bad[3] = np.nan
    ps[0].grad = ember.from_numpy(bad)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        opt.step()
    np.testing.assert_array_equal(ps[0].detach().numpy(), before)
    for k, v in opt.state[ps[0]].items():
        np.testing.assert_array_equal(v.numpy(), state[k])


def test_sparse_adam_explains_itself():
    with pytest.raises(NotImplementedError, match="SparseAdam.*sparse gradients.*Adam"):
        optim.SparseAdam([param()], lr=1e-3)
