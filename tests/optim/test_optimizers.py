"""Optimizers against float64 numpy references of the documented rules (every ISA, a
grid of hyperparameters, 100 steps), against torch.optim trajectories when torch is
installed, 1 vs 2 threads bitwise, and state_dict round trips mid-training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from optim_reference import Reference

import ember
import ember.optim as optim
from ember import _C, nn

SHAPES = [(1,), (7,), (33,), (4, 17), (3, 5, 7), (1025,)]

GRID = {
    "SGD": [
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05),
        dict(lr=0.05, momentum=0.5, maximize=True),
    ],
    "Adagrad": [
        dict(lr=0.05),
        dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
        dict(lr=0.05, eps=1e-3, maximize=True),
    ],
    "RMSprop": [
        dict(lr=1e-3),
        dict(lr=1e-3, momentum=0.9),
        dict(lr=1e-3, centered=True, weight_decay=0.01),
        dict(lr=1e-3, centered=True, momentum=0.5, alpha=0.9, eps=1e-6, maximize=True),
    ],
    "Adam": [
        dict(lr=1e-2),
        dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05),
        dict(lr=1e-2, amsgrad=True),
        dict(lr=1e-2, amsgrad=True, maximize=True, eps=1e-6, weight_decay=0.01),
    ],
    "AdamW": [
        dict(lr=1e-2),
        dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
        dict(lr=1e-2, betas=(0.0, 0.5), maximize=True),
    ],
    "Lion": [
        dict(lr=1e-3),
        dict(lr=1e-3, weight_decay=0.5, betas=(0.95, 0.98)),
        dict(lr=1e-3, maximize=True),
    ],
}
CASES = [(k, h) for k, hs in GRID.items() for h in hs]
IDS = [f"{k}-{i}" for k, hs in GRID.items() for i in range(len(hs))]


def make_params(rng, dtype=np.float32, shapes=SHAPES):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def make_grads(rng, params, steps, dtype=np.float32, none_every=0):
    """Random gradients per step; with none_every=k, param i has no grad when
    (step + i) % k == 0 (so step counts differ per parameter)."""
    out = []
    for s in range(steps):
        gs = []
        for i, p in enumerate(params):
            if none_every and (s + i) % none_every == 0:
                gs.append(None)
            else:
                gs.append(rng.standard_normal(p.shape).astype(dtype))
        out.append(gs)
    return out


def run_ember(kind, hyper, params, grads, **extra):
    ps = [nn.Parameter(ember.from_numpy(p.copy())) for p in params]
    opt = getattr(optim, kind)(ps, **hyper, **extra)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = None if g is None else ember.from_numpy(g)
        opt.step()
    return ps, opt


def rel_err(a, b, scale=1.0):
    """max |a - b| relative to the larger of max |b| and the scale of the data (values
    and gradients here are N(0, 1), so an entry that happens to be near 0 is not
    measured against itself)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), scale))


@pytest.mark.parametrize("kind,hyper", CASES, ids=IDS)
def test_matches_reference(isa, rng, kind, hyper):
    params = make_params(rng)
    grads = make_grads(rng, params, 100, none_every=7)
    ps, opt = run_ember(kind, hyper, params, grads)
    ref = Reference(kind, params, **hyper)
    for gs in grads:
        ref.step(gs)
    for i, (p, r) in enumerate(zip(ps, ref.params)):
        assert rel_err(p.detach().numpy(), r) <= 1e-5, (i, p.shape)
        for key, val in ref.state[i].items():
            got = opt.state[p][key]
            if key == "step":
                assert got.item() == val
            else:
                assert rel_err(got.numpy(), val) <= 1e-5, (i, key)


@pytest.mark.parametrize("kind,hyper", CASES, ids=IDS)
def test_float64_matches_reference(rng, kind, hyper):
    params = make_params(rng, np.float64, SHAPES[:4])
    grads = make_grads(rng, params, 30, np.float64)
    ps, _ = run_ember(kind, hyper, params, grads)
    ref = Reference(kind, params, **hyper)
    for gs in grads:
        ref.step(gs)
    for p, r in zip(ps, ref.params):
        assert p.dtype is ember.float64
        assert rel_err(p.detach().numpy(), r) <= 1e-12


def test_version_counter_and_grad_none_skipped(rng):
    a = nn.Parameter(ember.from_numpy(rng.standard_normal(5).astype(np.float32)))
    b = nn.Parameter(ember.from_numpy(rng.standard_normal(3).astype(np.float32)))
    before = b.detach().numpy().copy()
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = ember.ones(5)
    va, vb = a._version, b._version
    opt.step()
    assert a._version == va + 1 and b._version == vb
    np.testing.assert_array_equal(b.detach().numpy(), before)
    assert b not in opt.state and opt.state[a]["step"].item() == 1.0


def test_noncontiguous_grad_is_read(rng):
    p = nn.Parameter(ember.from_numpy(rng.standard_normal((4, 6)).astype(np.float32)))
    g = rng.standard_normal((6, 4)).astype(np.float32)
    p.grad = ember.from_numpy(g).T  # a transposed view
    ref = p.detach().numpy() - 0.1 * g.T
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.detach().numpy(), ref, rtol=1e-6)


def test_closure_and_param_groups(rng):
    w = nn.Parameter(ember.from_numpy(rng.standard_normal(4).astype(np.float32)))
    b = nn.Parameter(ember.from_numpy(rng.standard_normal(1).astype(np.float32)))
    opt = optim.SGD([{"params": [w]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    w0, b0 = w.detach().numpy().copy(), b.detach().numpy().copy()

    def closure():
        opt.zero_grad()
        loss = (w * w).sum() + (b * 3.0).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, ember.Tensor)
    np.testing.assert_allclose(w.detach().numpy(), w0 - 0.1 * 2 * w0, rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), b0 - 0.5 * 3.0, rtol=1e-6)
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and not w.grad.numpy().any()
    opt.zero_grad()
    assert w.grad is None


def test_add_param_group_fills_defaults(rng):
    a = nn.Parameter(ember.zeros(3))
    b = nn.Parameter(ember.zeros(2))
    opt = optim.Adagrad([a], lr=0.1, initial_accumulator_value=0.5)
    opt.add_param_group({"params": [b], "lr": 0.2})
    g = opt.param_groups[1]
    assert g["lr"] == 0.2 and g["initial_accumulator_value"] == 0.5 and g["eps"] == 1e-10
    b.grad = ember.ones(2)
    opt.step()  # state of the late parameter is created on first use
    assert opt.state[b]["sum"].numpy().tolist() == [1.5, 1.5]


def test_named_parameters():
    m = nn.Linear(3, 2)
    opt = optim.SGD(m.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


# ---- torch trajectories --------------------------------------------------------------
TORCH_CASES = [c for c in CASES if c[0] != "Lion"]
TORCH_IDS = [i for i, c in zip(IDS, CASES) if c[0] != "Lion"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,hyper", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch(rng, kind, hyper, dtype):
    torch = pytest.importorskip("torch")
    params = make_params(rng, np.dtype(dtype), SHAPES[:5])
    grads = make_grads(rng, params, 50, np.dtype(dtype), none_every=5)
    ps, opt = run_ember(kind, hyper, params, grads)
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    topt = getattr(torch.optim, kind)(tp, **hyper)
    for gs in grads:
        for p, g in zip(tp, gs):
            p.grad = None if g is None else torch.from_numpy(g.copy())
        topt.step()
    tol = 1e-12 if dtype == "float64" else 1e-5
    for p, t in zip(ps, tp):
        assert rel_err(p.detach().numpy(), t.detach().numpy()) <= tol
    # The state has torch's layout and values.
    tsd, sd = topt.state_dict(), opt.state_dict()
    assert sorted(tsd["state"]) == sorted(sd["state"])
    for i, st in tsd["state"].items():
        assert set(st) == set(sd["state"][i]), (set(st), set(sd["state"][i]))
        for key, val in st.items():
            ours = sd["state"][i][key]
            assert rel_err(ours.numpy(), val.numpy()) <= tol, key


# ---- threads and ISAs ------------------------------------------------------------------
BIG = [(100003,), (40000,), (17,), (1,), (300, 70)] + [(n,) for n in range(1, 60)]


@pytest.mark.parametrize("kind,hyper", [CASES[3], CASES[7], CASES[11], CASES[14], CASES[18]])
def test_threads_bitwise(isa, rng, kind, hyper):
    params = make_params(rng, shapes=BIG)
    grads = make_grads(rng, params, 3)
    results = []
    prev = _C.get_num_threads()
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            ps, opt = run_ember(kind, hyper, params, grads)
            results.append([p.detach().numpy() for p in ps])
    finally:
        _C.set_num_threads(prev)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_isas_agree(rng):
    """Every ISA computes the same update up to rounding (FMA vs mul+add)."""
    params = make_params(rng, shapes=BIG[:5])
    grads = make_grads(rng, params, 5)
    prev = _C.get_isa()
    out = {}
    try:
        for isa in _C.available_isas():
            _C.set_isa(isa)
            ps, _ = run_ember("Adam", dict(lr=1e-2, amsgrad=True), params, grads)
            out[isa] = [p.detach().numpy() for p in ps]
    finally:
        _C.set_isa(prev)
    first = next(iter(out.values()))
    for res in out.values():
        for a, b in zip(res, first):
            assert rel_err(a, b) <= 1e-6


# ---- state_dict --------------------------------------------------------------------------
@pytest.mark.parametrize("kind,hyper", CASES, ids=IDS)
def test_state_dict_round_trip_mid_training(rng, kind, hyper):
    params = make_params(rng, shapes=SHAPES[:4])
    grads = make_grads(rng, params, 20, none_every=6)
    ps, opt = run_ember(kind, hyper, params, grads[:10])
    # Serialize as a checkpoint would: numbers and numpy arrays only.
    sd = opt.state_dict()
    saved = {
        "state": {i: {k: v.numpy().copy() for k, v in st.items()} for i, st in sd["state"].items()},
        "param_groups": copy.deepcopy(sd["param_groups"]),
    }
    ps2 = [nn.Parameter(ember.from_numpy(p.detach().numpy().copy())) for p in ps]
    opt2 = getattr(optim, kind)(ps2, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for gs in grads[10:]:
        for p, p2, g in zip(ps, ps2, gs):
            p.grad = None if g is None else ember.from_numpy(g)
            p2.grad = None if g is None else ember.from_numpy(g.copy())
        opt.step()
        opt2.step()
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.detach().numpy(), p2.detach().numpy())
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        for k in a["state"][i]:
            np.testing.assert_array_equal(a["state"][i][k].numpy(), b["state"][i][k].numpy())
            assert a["state"][i][k].dtype == b["state"][i][k].dtype


def test_load_state_dict_copies(rng):
    p = nn.Parameter(ember.from_numpy(rng.standard_normal(4).astype(np.float32)))
    opt = optim.Adam([p])
    p.grad = ember.ones(4)
    opt.step()
    sd = opt.state_dict()
    q = nn.Parameter(ember.from_numpy(p.detach().numpy().copy()))
    opt2 = optim.Adam([q])
    opt2.load_state_dict(sd)
    assert opt2.state[q]["exp_avg"].data_ptr() != opt.state[p]["exp_avg"].data_ptr()
    assert opt2.state[q]["step"].dtype is ember.float32


# ---- non-finite gradients ----------------------------------------------------------------
@pytest.mark.parametrize("kind", list(GRID))
def test_skip_nonfinite(rng, kind):
    params = make_params(rng, shapes=[(5,), (40000,)])
    ps = [nn.Parameter(ember.from_numpy(p.copy())) for p in params]
    opt = getattr(optim, kind)(ps, skip_nonfinite=True, **GRID[kind][1])
    for p in ps:
        p.grad = ember.from_numpy(rng.standard_normal(p.shape).astype(np.float32))
    opt.step()
    before = [p.detach().numpy().copy() for p in ps]
    state = {k: v.numpy().copy() for k, v in opt.state[ps[1]].items()}
    bad = rng.standard_normal(40000).astype(np.float32)
    bad[39999] = np.inf
    ps[1].grad = ember.from_numpy(bad)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        opt.step()
    assert opt.skipped_steps == 1
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    for k, v in opt.state[ps[1]].items():
        np.testing.assert_array_equal(v.numpy(), state[k])
    bad[39999] = 0.0
    bad[7] = np.nan
    with pytest.warns(RuntimeWarning):
        opt.step()
    assert opt.skipped_steps == 2
    bad[7] = 1.0
    opt.step()
    assert opt.skipped_steps == 2
    assert not np.array_equal(ps[1].detach().numpy(), before[1])


def test_nonfinite_propagates_without_skip():
    p = nn.Parameter(ember.zeros(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = ember.tensor([1.0, float("nan"), 0.0])
    opt.step()
    assert np.isnan(p.detach().numpy()[1]) and opt.skipped_steps == 0
