"""The raw rnn_forward / rnn_backward bindings under every ISA: forward vs a float64 numpy
step-by-step reference of PyTorch's equations, float32 gradients vs float64 gradients
(themselves checked by gradcheck in test_rnn_grad.py), poisoned outputs, lengths, both
directions, and argument errors."""

from __future__ import annotations

import ember._C as _C
import numpy as np
import pytest
from rnn_ref import gates_of, layer

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
# T, B, I, H
SIZES = [
    (1, 1, 1, 1),
    (3, 2, 5, 1),
    (7, 3, 4, 17),
    (2, 5, 33, 16),
    (4, 1, 7, 31),
    (3, 4, 0, 3),
    (3, 3, 5, 129),  # several hidden-unit chunks per step
    (2, 1, 3, 65),  # batch 1 (the GEMV path) with several chunks
    (3, 1, 4, 300),  # batch 1 with GEMV panels in several items, threaded steps
    (3, 14, 5, 17),  # a micro-tile of batch rows: the x projection runs inside the steps
    (2, 17, 300, 33),  # ... with W_ih over two K blocks and a partial row tile
]


def imp(a):
    return _C.TensorImpl.from_buffer(np.ascontiguousarray(a))


def nan(shape, dt):
    return np.full(shape, np.nan, dtype=dt)


def make(rng, mode, T, B, I, H, dt, lengths=None):
    G = gates_of(mode)
    s = 1.0 / np.sqrt(H)
    p = {
        "x": rng.standard_normal((T, B, I)),
        "w_ih": rng.uniform(-s, s, (G * H, I)) * 2,
        "w_hh": rng.uniform(-s, s, (G * H, H)) * 2,
        "b_ih": rng.standard_normal(G * H) * 0.5,
        "b_hh": rng.standard_normal(G * H) * 0.5,
        "h0": rng.standard_normal((B, H)),
        "c0": rng.standard_normal((B, H)),
    }
    return {k: v.astype(dt) for k, v in p.items()}


def run_forward(mode, p, lengths, reverse, dt, bias=True):
    T, B, _ = p["x"].shape
    H = p["w_hh"].shape[1]
    G = gates_of(mode)
    lstm, gru = mode == "lstm", mode == "gru"
    out = {
        "y": nan((T, B, H), dt),
        "hn": nan((B, H), dt),
        "cn": nan((B, H), dt) if lstm else None,
        "hs": nan((T + 1, B, H), dt),
        "cs": nan((T + 1, B, H), dt) if lstm else None,
        "gates": nan((T, B, G * H), dt),
        "hn_lin": nan((T, B, H), dt) if gru else None,
    }
    o = {k: None if v is None else imp(v) for k, v in out.items()}
    _C.rnn_forward(
        mode,
        imp(p["x"]),
        imp(p["w_ih"]),
        imp(p["w_hh"]),
        imp(p["b_ih"]) if bias else None,
        imp(p["b_hh"]) if bias else None,
        imp(p["h0"]),
        imp(p["c0"]) if lstm else None,
        None if lengths is None else imp(np.asarray(lengths, np.int64)),
        reverse,
        o["y"],
        o["hn"],
        o["cn"],
        o["hs"],
        o["cs"],
        o["gates"],
        o["hn_lin"],
    )
    return {k: None if v is None else np.asarray(v) for k, v in o.items()}


def run_backward(mode, p, saved, lengths, reverse, dt, g):
    T, B, I = p["x"].shape
    H = p["w_hh"].shape[1]
    G = gates_of(mode)
    lstm = mode == "lstm"
    out = {
        "dx": nan((T, B, I), dt),
        "dw_ih": nan((G * H, I), dt),
        "dw_hh": nan((G * H, H), dt),
        "db_ih": nan(G * H, dt),
        "db_hh": nan(G * H, dt),
        "dh0": nan((B, H), dt),
        "dc0": nan((B, H), dt) if lstm else None,
    }
    o = {k: None if v is None else imp(v) for k, v in out.items()}
    _C.rnn_backward(
        mode,
        imp(p["x"]),
        imp(p["w_ih"]),
        imp(p["w_hh"]),
        None if lengths is None else imp(np.asarray(lengths, np.int64)),
        reverse,
        imp(saved["hs"]),
        None if saved["cs"] is None else imp(saved["cs"]),
        imp(saved["gates"]),
        None if saved["hn_lin"] is None else imp(saved["hn_lin"]),
        imp(g["dy"].astype(dt)),
        imp(g["dhn"].astype(dt)),
        imp(g["dcn"].astype(dt)) if lstm else None,
        o["dx"],
        o["dw_ih"],
        o["dw_hh"],
        o["db_ih"],
        o["db_hh"],
        o["dh0"],
        o["dc0"],
    )
    return {k: None if v is None else np.asarray(v).astype(np.float64) for k, v in o.items()}


def random_lengths(rng, T, B):
    lens = rng.integers(0, T + 1, B)
    lens[rng.integers(0, B)] = T
    return lens


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_forward_matches_reference(isa, rng, mode, size, reverse, use_lengths):
    T, B, I, H = size
    lengths = random_lengths(rng, T, B) if use_lengths else None
    p = make(rng, mode, T, B, I, H, np.float32)
    got = run_forward(mode, p, lengths, reverse, np.float32)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    y, hn, cn = layer(mode, p64["x"], p64["w_ih"], p64["w_hh"], p64["b_ih"], p64["b_hh"],
                      p64["h0"], p64["c0"], lengths, reverse)  # fmt: skip
    tol = dict(rtol=2e-5, atol=2e-5 * (1 + H))
    np.testing.assert_allclose(got["y"], y, **tol)
    np.testing.assert_allclose(got["hn"], hn, **tol)
    if mode == "lstm":
        np.testing.assert_allclose(got["cn"], cn, **tol)
    if use_lengths:  # padded steps output exact zeros
        for b in range(B):
            assert not got["y"][lengths[b] :, b].any()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("B", [3, 15])  # 15: the x projection inside the steps
def test_forward_no_bias_and_float64(rng, mode, B):
    T, I, H = 5, 6, 9
    p = make(rng, mode, T, B, I, H, np.float64)
    got = run_forward(mode, p, None, False, np.float64, bias=False)
    y, hn, _ = layer(mode, p["x"], p["w_ih"], p["w_hh"], None, None, p["h0"], p["c0"])
    np.testing.assert_allclose(got["y"], y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["hn"], hn, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "size",
    [
        (1, 1, 1, 1),
        (6, 3, 5, 17),
        (4, 2, 33, 32),
        (3, 5, 2, 7),
        (2, 3, 4, 100),
        (3, 15, 20, 17),  # dx inside the steps (batch >= the GEMM micro-tile rows)
        (2, 14, 270, 40),  # ... with several dx column chunks
    ],
)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_backward_float32_matches_float64(isa, rng, mode, size, reverse, use_lengths):
    T, B, I, H = size
    lengths = random_lengths(rng, T, B) if use_lengths else None
    p = make(rng, mode, T, B, I, H, np.float32)
    g = {
        "dy": rng.standard_normal((T, B, H)),
        "dhn": rng.standard_normal((B, H)),
        "dcn": rng.standard_normal((B, H)),
    }
    s32 = run_forward(mode, p, lengths, reverse, np.float32)
    g32 = run_backward(mode, p, s32, lengths, reverse, np.float32, g)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    s64 = run_forward(mode, p64, lengths, reverse, np.float64)
    g64 = run_backward(mode, p64, s64, lengths, reverse, np.float64, g)
    for k, v in g64.items():
        if v is None:
            continue
        scale = 1 + np.abs(v).max()
        np.testing.assert_allclose(g32[k], v, rtol=1e-4, atol=1e-4 * scale * (1 + T), err_msg=k)
    if use_lengths:  # padded steps get no gradient
        for b in range(B):
            assert not g32["dx"][lengths[b] :, b].any()


@pytest.mark.parametrize("mode", MODES)
# the 2nd: threaded steps; the 3rd: threaded batch-1 steps (GEMV panels split between threads)
@pytest.mark.parametrize("size", [(9, 7, 33, 40), (3, 33, 17, 257), (4, 1, 9, 600)])
def test_threads_bitwise(rng, mode, size):
    T, B, I, H = size
    lengths = random_lengths(rng, T, B)
    p = make(rng, mode, T, B, I, H, np.float32)
    g = {
        "dy": rng.standard_normal((T, B, H)),
        "dhn": rng.standard_normal((B, H)),
        "dcn": rng.standard_normal((B, H)),
    }
    prev = _C.get_num_threads()
    res = []
    try:
        for n in (1, 2, 3):  # 3: items split unevenly across the team
            _C.set_num_threads(n)
            s = run_forward(mode, p, lengths, True, np.float32)
            res.append((s, run_backward(mode, p, s, lengths, True, np.float32, g)))
    finally:
        _C.set_num_threads(prev)
    for other in res[1:]:
        for a, b in zip(res[0], other):
            for k in a:
                if a[k] is not None:
                    assert np.array_equal(a[k], b[k], equal_nan=True), k


def _args(mode="lstm", T=3, B=2, I=4, H=5, dt=np.float32):
    G = gates_of(mode)
    lstm = mode == "lstm"
    z = lambda *s: imp(np.zeros(s, dt))  # noqa: E731
    return dict(
        mode=mode,
        input=z(T, B, I),
        weight_ih=z(G * H, I),
        weight_hh=z(G * H, H),
        bias_ih=z(G * H),
        bias_hh=z(G * H),
        h0=z(B, H),
        c0=z(B, H) if lstm else None,
        lengths=None,
        reverse=False,
        output=z(T, B, H),
        h_n=z(B, H),
        c_n=z(B, H) if lstm else None,
        hidden_states=z(T + 1, B, H),
        cell_states=z(T + 1, B, H) if lstm else None,
        gates=z(T, B, G * H),
        hn_lin=z(T, B, H) if mode == "gru" else None,
    )


def test_binding_errors():
    a = _args()
    _C.rnn_forward(**a)  # the baseline is valid
    with pytest.raises(ValueError, match=r"ember\.lstm: weight_ih has shape \(20, 3\)"):
        _C.rnn_forward(**{**a, "weight_ih": imp(np.zeros((20, 3), np.float32))})
    with pytest.raises(ValueError, match=r"ember\.lstm: h0 has shape \(2, 4\), expected \(2, 5\)"):
        _C.rnn_forward(**{**a, "h0": imp(np.zeros((2, 4), np.float32))})
    with pytest.raises(TypeError, match=r"ember\.lstm: bias_ih has dtype float64"):
        _C.rnn_forward(**{**a, "bias_ih": imp(np.zeros(20))})
    with pytest.raises(ValueError, match=r"lengths\[1\] = 4 is outside \[0, 3\]"):
        _C.rnn_forward(**{**a, "lengths": imp(np.array([1, 4]))})
    with pytest.raises(ValueError, match=r"lengths has shape \(3,\), expected \(2,\)"):
        _C.rnn_forward(**{**a, "lengths": imp(np.array([1, 2, 3]))})
    with pytest.raises(TypeError, match=r"lengths has dtype int32"):
        _C.rnn_forward(**{**a, "lengths": imp(np.array([1, 2], np.int32))})
    with pytest.raises(ValueError, match=r"unknown mode 'lstmx'"):
        _C.rnn_forward(**{**a, "mode": "lstmx"})
    with pytest.raises(TypeError, match=r"input has dtype int32"):
        _C.rnn_forward(**{**a, "input": imp(np.zeros((3, 2, 4), np.int32))})
    with pytest.raises(ValueError, match=r"c_n is required"):
        _C.rnn_forward(**{**a, "c_n": None})
    g = _args("gru")
    with pytest.raises(ValueError, match=r"ember\.gru: c0 / c_n / cell_states are for lstm"):
        _C.rnn_forward(**{**g, "c0": a["c0"]})
    x = np.zeros((3, 4, 2), np.float32).transpose(0, 2, 1)
    with pytest.raises(ValueError, match="contiguous"):
        _C.rnn_forward(**{**a, "input": _C.TensorImpl.from_buffer(x)})
