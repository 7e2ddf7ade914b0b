"""Kernel-level tests of the fused optimizer and grad-norm bindings (ember._C): every
ISA, awkward sizes, no writes outside the tensors, poisoned buffers, 1 vs 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from ember import _C

T = _C.TensorImpl.from_buffer
SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129, 1000, 1025]
SENTINEL = 12345.0


def views(rng, sizes, dtype=np.float32, gap=3):
    """Adjacent-but-gapped views of one buffer (gaps hold SENTINEL), random values."""
    total = sum(sizes) + gap * (len(sizes) + 1)
    base = np.full(total, SENTINEL, dtype=dtype)
    out, at = [], gap
    for n in sizes:
        v = base[at : at + n]
        v[:] = rng.standard_normal(n)
        out.append(v)
        at += n + gap
    return base, out


def steps(n, value=0.0):
    return [np.full((), value, np.float32) for _ in range(n)]


def call(kind, ps, gs, states, stps, check=False, **kw):
    """Run one step through the raw binding; arrays in, impls passed."""
    P = [T(a) for a in ps]
    G = [T(a) for a in gs]
    S = [[T(a) for a in s] for s in states]
    ST = [T(a) for a in stps]
    if kind == "sgd":
        return _C.sgd_step(
            P,
            G,
            S[0],
            kw.pop("new"),
            kw.pop("lr"),
            kw.pop("momentum"),
            0.0,
            0.0,
            False,
            False,
            check,
        )
    if kind == "adagrad":
        return _C.adagrad_step(P, G, S[0], ST, 0.1, 0.0, 0.0, 1e-10, False, check)
    if kind == "rmsprop":
        return _C.rmsprop_step(
            P, G, S[0], S[1], S[2], ST, 0.01, 0.9, 1e-8, 0.0, 0.5, True, False, check
        )
    if kind == "adam":
        return _C.adam_step(
            P,
            G,
            S[0],
            S[1],
            S[2],
            ST,
            0.01,
            0.9,
            0.999,
            1e-8,
            0.1,
            True,
            False,
            kw.pop("decoupled", True),
            check,
        )
    if kind == "lion":
        return _C.lion_step(P, G, S[0], 0.01, 0.9, 0.99, 0.1, False, check)
    raise AssertionError(kind)


NSTATES = {"adagrad": 1, "rmsprop": 3, "adam": 3, "lion": 1}


@pytest.mark.parametrize("kind", list(NSTATES))
def test_every_element_once_and_nothing_outside(isa, rng, kind):
    sizes = SIZES + [100003]
    pbase, ps = views(rng, sizes)
    gbase, gs = views(rng, sizes)
    sbases, states = [], []
    for _ in range(NSTATES[kind]):
        b, s = views(rng, sizes)
        for a in s:
            a[:] = np.abs(a)  # square averages are non-negative
        sbases.append(b)
        states.append(s)
    if kind == "rmsprop":
        for a in states[1]:
            a[:] = 0  # grad_avg: keeps square_avg - grad_avg^2 positive
    for a in ps:
        a[:] = 0  # so every element's update shows
    p0 = [a.copy() for a in ps]
    st = steps(len(sizes), 4.0)
    assert call(kind, ps, gs, states, st)
    for base in [pbase, gbase] + sbases:
        # the gaps between and around the tensors are untouched
        mask = np.ones(base.size, bool)
        at = 3
        for n in sizes:
            mask[at : at + n] = False
            at += n + 3
        assert (base[mask] == SENTINEL).all()
    # every element moved, the first and last alike (tail handling)
    for a, b in zip(ps, p0):
        assert (a != b).all()
    if kind != "lion":
        assert all(s.item() == 5.0 for s in st)


@pytest.mark.parametrize("kind", list(NSTATES))
def test_chunking_invisible(isa, rng, kind):
    """One call over many tensors == one call per tensor, bitwise."""
    sizes = [1, 17, 40000, 33, 16384, 16385, 5]
    ps = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    gs = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    ss = [
        [np.abs(rng.standard_normal(n)).astype(np.float32) for n in sizes]
        for _ in range(NSTATES[kind])
    ]
    a_p = [x.copy() for x in ps]
    a_s = [[x.copy() for x in s] for s in ss]
    call(kind, a_p, gs, a_s, steps(len(sizes), 2.0))
    for i in range(len(sizes)):
        b_p = [ps[i].copy()]
        b_s = [[s[i].copy()] for s in ss]
        call(kind, b_p, [gs[i]], b_s, steps(1, 2.0))
        np.testing.assert_array_equal(a_p[i], b_p[0])
        for k in range(len(ss)):
            np.testing.assert_array_equal(a_s[k][i], b_s[k][0])


def test_sgd_new_buffer_overwrites_poison(isa, rng):
    for n in SIZES:
        p = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        buf = np.full(n, np.nan, np.float32)
        p0 = p.copy()
        assert call("sgd", [p], [g], [[buf]], [], new=[True], lr=0.5, momentum=0.9)
        np.testing.assert_array_equal(buf, g)
        np.testing.assert_allclose(p, p0 - 0.5 * g, rtol=1e-6, atol=1e-7)
        # second step: buf = 0.9 buf + g
        assert call("sgd", [p], [g], [[buf]], [], new=[False], lr=0.5, momentum=0.9)
        np.testing.assert_allclose(buf, 1.9 * g, rtol=1e-6)


def test_check_finite_skips_everything(isa, rng):
    sizes = [5, 40000, 3]
    ps = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    gs = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    ss = [[np.abs(rng.standard_normal(n)).astype(np.float32) for n in sizes] for _ in range(3)]
    for pos in [(0, 0), (1, 0), (1, 20000), (1, 39999), (2, 2)]:
        for bad in (np.nan, np.inf, -np.inf):
            g = [x.copy() for x in gs]
            g[pos[0]][pos[1]] = bad
            p, s, st = [x.copy() for x in ps], [[x.copy() for x in y] for y in ss], steps(3)
            assert not call("adam", p, g, s, st, check=True)
            for a, b in zip(p, ps):
                np.testing.assert_array_equal(a, b)
            for y, z in zip(s, ss):
                for a, b in zip(y, z):
                    np.testing.assert_array_equal(a, b)
            assert all(x.item() == 0.0 for x in st)
    assert call(
        "adam",
        [x.copy() for x in ps],
        gs,
        [[x.copy() for x in y] for y in ss],
        steps(3),
        check=True,
    )


def test_float64_tensors(rng):
    p = rng.standard_normal(37)
    g = rng.standard_normal(37)
    m, v = np.zeros(37), np.zeros(37)
    p0 = p.copy()
    assert _C.adam_step(
        [T(p)],
        [T(g)],
        [T(m)],
        [T(v)],
        [],
        [T(np.zeros(()))],
        0.1,
        0.9,
        0.999,
        1e-8,
        0.0,
        False,
        False,
        False,
        False,
    )
    # first Adam step: p -= lr * g / (|g| + eps)
    np.testing.assert_allclose(p, p0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


# ---- norms and clipping ------------------------------------------------------------------
def np_norm(xs, p):
    flat = np.concatenate([np.asarray(x, np.float64).ravel() for x in xs])
    if np.isinf(p):
        return np.max(np.abs(flat))
    return np.sum(np.abs(flat) ** p) ** (1 / p)


@pytest.mark.parametrize("p", [2.0, 1.0, float("inf"), 3.0, 0.5])
def test_total_norm(isa, rng, p):
    for dtype in (np.float32, np.float64):
        xs = [rng.standard_normal(n).astype(dtype) for n in SIZES + [100003]]
        norm, bad = _C.total_norm([T(x) for x in xs], p)
        assert not bad
        np.testing.assert_allclose(
            norm, np_norm(xs, p), rtol=1e-6 if dtype == np.float32 else 1e-12
        )
    mixed = [rng.standard_normal(9).astype(np.float32), rng.standard_normal(70000)]
    np.testing.assert_allclose(
        _C.total_norm([T(x) for x in mixed], p)[0], np_norm(mixed, p), rtol=1e-6
    )


@pytest.mark.parametrize("p", [2.0, 1.0, float("inf"), 3.0])
def test_nonfinite_flag(isa, rng, p):
    for n in [1, 17, 1025, 100003]:
        for pos in sorted({0, n // 2, n - 1}):
            for bad in (np.nan, np.inf, -np.inf):
                x = rng.standard_normal(n).astype(np.float32)
                x[pos] = bad
                norm, flag = _C.total_norm([T(np.ones(3, np.float32)), T(x)], p)
                assert flag
                if np.isnan(bad):
                    assert np.isnan(norm)
                else:
                    assert np.isinf(norm)


def test_clip_grad_norm_kernel(isa, rng):
    xs = [rng.standard_normal(n).astype(np.float32) for n in SIZES]
    ref = [x.copy() for x in xs]
    total = np_norm(ref, 2.0)
    norm, bad = _C.clip_grad_norm([T(x) for x in xs], 1.0, 2.0, False)
    assert not bad and abs(norm - total) <= 1e-6 * total
    for a, b in zip(xs, ref):
        np.testing.assert_allclose(a, b * (1.0 / (total + 1e-6)), rtol=1e-6)
    # below max_norm: untouched (bitwise)
    before = [x.copy() for x in xs]
    _C.clip_grad_norm([T(x) for x in xs], 10.0, 2.0, False)
    for a, b in zip(xs, before):
        np.testing.assert_array_equal(a, b)
    # non-finite with the error flag: untouched
    xs[3][1] = np.inf
    before = [x.copy() for x in xs]
    norm, bad = _C.clip_grad_norm([T(x) for x in xs], 1.0, 2.0, True)
    assert bad and np.isinf(norm)
    for a, b in zip(xs, before):
        np.testing.assert_array_equal(a, b)


def test_clip_grad_value_kernel(isa, rng):
    for n in SIZES:
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        x[n // 2] = np.nan
        ref = np.clip(x, -1.5, 1.5)
        _C.clip_grad_value([T(x)], 1.5)
        np.testing.assert_array_equal(x, ref)


def test_norm_threads_bitwise(isa, rng):
    xs = [rng.standard_normal(n).astype(np.float32) for n in [100003, 7, 65536, 33]]
    prev = _C.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            _C.set_num_threads(n)
            out.append([_C.total_norm([T(x) for x in xs], p)[0] for p in (1.0, 2.0, 3.0)])
    finally:
        _C.set_num_threads(prev)
    assert out[0] == out[1]


# ---- binding checks (nothing is written when they fail) -------------------------------
def adam_args(ps, gs, m, v, st, **kw):
    args = dict(
        params=ps,
        grads=gs,
        exp_avgs=m,
        exp_avg_sqs=v,
        max_exp_avg_sqs=[],
        steps=st,
        lr=0.1,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        maximize=False,
        decoupled_weight_decay=False,
        check_finite=False,
    )
    args.update(kw)
    return args


def test_binding_errors():
    p = np.ones(4, np.float32)
    g = np.ones(4, np.float32)
    z = lambda *s: np.zeros(s or (4,), np.float32)  # noqa: E731
    ok = dict(ps=[T(p)], gs=[T(g)], m=[T(z())], v=[T(z())], st=[T(np.zeros((), np.float32))])
    cases = [
        (ValueError, "grads has 0 tensors", dict(gs=[])),
        (ValueError, r"exp_avgs\[0\] has shape \(5,\)", dict(m=[T(z(5))])),
        (TypeError, "has dtype float64", dict(v=[T(np.zeros(4))])),
        (TypeError, "int32", dict(ps=[T(np.ones(4, np.int32))])),
        (ValueError, "contiguous", dict(gs=[T(np.ones(8, np.float32)[::2])])),
        (ValueError, "steps has 0", dict(st=[])),
        (ValueError, "one-element", dict(st=[T(np.zeros(2, np.float32))])),
        (ValueError, "max_exp_avg_sqs must be empty", dict(max_exp_avg_sqs=[T(z())])),
        (ValueError, "beta parameter at index 1", dict(beta2=1.0)),
        (ValueError, "learning rate", dict(lr=-1.0)),
        (ValueError, "epsilon", dict(eps=float("nan"))),
    ]
    for exc, msg, change in cases:
        kw = {k: v for k, v in change.items() if k not in ok}
        parts = {k: change.get(k, v) for k, v in ok.items()}
        with pytest.raises(exc, match=msg):
            _C.adam_step(
                **adam_args(parts["ps"], parts["gs"], parts["m"], parts["v"], parts["st"], **kw)
            )
        assert (p == 1).all() and (g == 1).all()
    base = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        _C.sgd_step(
            [T(base[:6]), T(base[4:])],
            [T(z(6)), T(z(6))],
            [],
            [],
            0.1,
            0.0,
            0.0,
            0.0,
            False,
            False,
            False,
        )
    with pytest.raises(ValueError, match="Nesterov"):
        _C.sgd_step([T(p)], [T(g)], [], [], 0.1, 0.0, 0.0, 0.0, True, False, False)
    with pytest.raises(ValueError, match="new_buffers"):
        _C.sgd_step([T(p)], [T(g)], [T(z())], [], 0.1, 0.9, 0.0, 0.0, False, False, False)
    with pytest.raises(ValueError, match="norm_type"):
        _C.total_norm([T(g)], 0.0)
    with pytest.raises(TypeError, match="int32"):
        _C.clip_grad_value([T(np.ones(3, np.int32))], 1.0)
    assert (p == 1).all()
