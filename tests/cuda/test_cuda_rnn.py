"""CUDA recurrent layers (rnn_forward / rnn_backward). Without a GPU: the cells' per-unit
math (the kernels' __host__ __device__ code, through _rnn_cell) against numpy float64 (the
backward against central differences of the forward), and every argument check with fake
CUDA tensors, which must raise the CPU binding's errors. With a GPU (`-m cuda`): the raw
bindings against ember's CPU kernels on the same inputs (awkward sizes, lengths, reverse,
both dtypes), and nn.RNN / LSTM / GRU moved to CUDA against the same modules on the CPU."""

import ctypes
import re

import ember._C as _C
import numpy as np
import pytest
from test_cuda import HAS_GPU, C, cpu, download, fake_cuda, needs_ext, to_numpy, upload

import ember
import ember.nn as nn

GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]
MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# ------------------------------------------------ cell math vs numpy float64


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _forward_ref(mode, v):
    """One unit's forward outputs (the _rnn_cell layout) from its inputs, float64."""
    if mode == "rnn_tanh":
        return [np.tanh(v[0])]
    if mode == "rnn_relu":
        return [max(v[0], 0.0)]
    if mode == "lstm":
        i, f, g, o = _sig(v[0]), _sig(v[1]), np.tanh(v[2]), _sig(v[3])
        c = f * v[4] + i * g
        return [i, f, g, o, c, o * np.tanh(c)]
    r, z = _sig(v[0] + v[3]), _sig(v[1] + v[4])
    n = np.tanh(v[2] + r * v[5])
    return [r, z, n, v[5], (1 - z) * n + z * v[6]]


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    for k in range(len(x)):
        d = np.zeros_like(x)
        d[k] = eps
        g[k] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def _backward_case(mode, rng):
    """(hook inputs, reference outputs) of one unit's backward: the gradients of the loss
    L = dh * h' (+ dc * c' for lstm), by central differences of the numpy forward."""
    dh = rng.normal()
    if mode.startswith("rnn"):
        p = rng.normal(0, 2, 1)
        if mode == "rnn_relu":
            p = p + np.sign(p) * 0.1  # away from the kink
        a = _forward_ref(mode, p)[0]
        return [a, dh], list(_numeric_grad(lambda q: dh * _forward_ref(mode, q)[0], p))
    if mode == "lstm":
        x = rng.normal(0, 2, 5)  # pre-activations i, f, g, o and c_prev
        dc = rng.normal()
        out = _forward_ref(mode, x)

        def loss(q):
            y = _forward_ref(mode, q)
            return dh * y[5] + dc * y[4]

        g = _numeric_grad(loss, x)
        return out[:4] + [out[4], x[4], dh, dc], list(g)
    x = rng.normal(0, 2, 7)  # x projections r, z, n; h projections r, z, n; h_prev
    out = _forward_ref(mode, x)
    g = _numeric_grad(lambda q: dh * _forward_ref(mode, q)[4], x)
    return out[:4] + [x[6], dh], list(g)


@needs_ext
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f64", [False, True])
def test_cell_forward_matches_numpy(mode, f64, rng):
    n_in = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 5, "gru": 7}[mode]
    rows = rng.normal(0, 3, (40, n_in))
    rows[0] = 0.0
    rows[1] = 40.0  # saturated gates: no overflow in the sigmoids
    rows[2] = -40.0
    if not f64:
        rows = rows.astype(np.float32).astype(np.float64)  # exact float32 inputs
    got = np.array(C._rnn_cell(mode, False, f64, rows.tolist()))
    want = np.array([_forward_ref(mode, r) for r in rows])
    tol = dict(rtol=1e-12, atol=1e-14) if f64 else dict(rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(got, want, **tol)


@needs_ext
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f64", [False, True])
def test_cell_backward_matches_central_differences(mode, f64, rng):
    cases = [_backward_case(mode, rng) for _ in range(25)]
    rows = np.array([c[0] for c in cases], np.float64)
    if not f64:
        rows = rows.astype(np.float32).astype(np.float64)
    got = np.array(C._rnn_cell(mode, True, f64, rows.tolist()))
    # The hook's outputs are the gradients of the forward's inputs, in order (lstm: the
    # gates' pre-activations, then c_prev; gru: x projections, h projections, h_prev).
    want = np.array([c[1] for c in cases])
    tol = dict(rtol=1e-6, atol=1e-8) if f64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, want, **tol)


@needs_ext
def test_cell_hook_rejects_short_rows():
    with pytest.raises(ValueError, match="a row has 2 values, expected 5"):
        C._rnn_cell("lstm", False, True, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="unknown mode 'lst'"):
        C._rnn_cell("lst", False, True, [[1.0]])


# ------------------------------------------------ argument checks (no GPU)


def _fwd_arrays(mode, T=3, B=2, I=4, H=5, dt=np.float32):
    G = GATES[mode]
    lstm, gru = mode == "lstm", mode == "gru"
    z = lambda *s: np.zeros(s, dt)  # noqa: E731
    return dict(
        input=z(T, B, I),
        weight_ih=z(G * H, I),
        weight_hh=z(G * H, H),
        bias_ih=z(G * H),
        bias_hh=z(G * H),
        h0=z(B, H),
        c0=z(B, H) if lstm else None,
        lengths=None,
        output=z(T, B, H),
        h_n=z(B, H),
        c_n=z(B, H) if lstm else None,
        hidden_states=z(T + 1, B, H),
        cell_states=z(T + 1, B, H) if lstm else None,
        gates=z(T, B, G * H),
        hn_lin=z(T, B, H) if gru else None,
    )


def _bwd_arrays(mode, T=3, B=2, I=4, H=5, dt=np.float32):
    G = GATES[mode]
    lstm, gru = mode == "lstm", mode == "gru"
    z = lambda *s: np.zeros(s, dt)  # noqa: E731
    return dict(
        input=z(T, B, I),
        weight_ih=z(G * H, I),
        weight_hh=z(G * H, H),
        lengths=None,
        hidden_states=z(T + 1, B, H),
        cell_states=z(T + 1, B, H) if lstm else None,
        gates=z(T, B, G * H),
        hn_lin=z(T, B, H) if gru else None,
        grad_output=z(T, B, H),
        grad_h_n=z(B, H),
        grad_c_n=z(B, H) if lstm else None,
        grad_input=z(T, B, I),
        grad_weight_ih=z(G * H, I),
        grad_weight_hh=z(G * H, H),
        grad_bias_ih=z(G * H),
        grad_bias_hh=z(G * H),
        grad_h0=z(B, H),
        grad_c0=z(B, H) if lstm else None,
    )


def _call(mod, make, fn, mode, arrays, reverse=False, same=()):
    """mod.<fn>(mode, ...) on tensors made by `make`; names in `same` share one tensor (the
    first one's) to test aliasing. Returns the exception raised (None if none)."""
    ts = {k: None if a is None else make(a) for k, a in arrays.items()}
    for name in same[1:]:
        ts[name] = ts[same[0]]
    kw = dict(ts, reverse=reverse)
    try:
        getattr(mod, fn)(mode, **kw)
    except Exception as e:  # noqa: BLE001 - compared by the caller
        return e
    return None


def _edit(arrays, **changes):
    out = dict(arrays)
    out.update(changes)
    return out


def _bad_cases():
    f, b = _fwd_arrays, _bwd_arrays
    return [
        ("rnn_forward", "lsmt", f("lstm"), (), "unknown mode 'lsmt'"),
        ("rnn_forward", "gru", _edit(f("gru"), input=np.zeros((3, 2, 4), np.int32)), (), "dtype"),
        ("rnn_forward", "gru", _edit(f("gru"), input=np.zeros((6, 4), np.float32)), (), "3-D"),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), weight_ih=np.zeros((20, 3), np.float32)),
            (),
            "weight_ih has shape",
        ),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), weight_hh=np.zeros((19, 5), np.float32)),
            (),
            "weight_hh has shape",
        ),
        (
            "rnn_forward",
            "rnn_tanh",
            _edit(f("rnn_tanh"), bias_hh=np.zeros(5)),
            (),
            "bias_hh has dtype float64, expected float32",
        ),
        (
            "rnn_forward",
            "rnn_relu",
            _edit(f("rnn_relu"), h0=np.zeros((3, 5), np.float32)),
            (),
            r"h0 has shape \(3, 5\), expected \(2, 5\)",
        ),
        (
            "rnn_forward",
            "gru",
            _edit(f("gru"), c0=np.zeros((2, 5), np.float32)),
            (),
            "are for lstm",
        ),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), hn_lin=np.zeros((3, 2, 5), np.float32)),
            (),
            "hn_lin is for gru",
        ),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), lengths=np.zeros(2, np.int32)),
            (),
            "lengths has dtype int32, expected int64",
        ),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), lengths=np.zeros(3, np.int64)),
            (),
            r"lengths has shape \(3,\), expected \(2,\)",
        ),
        (
            "rnn_forward",
            "lstm",
            _edit(f("lstm"), gates=np.zeros((3, 2, 40), np.float32)[..., ::2]),
            (),
            "contiguous",
        ),
        ("rnn_forward", "rnn_tanh", f("rnn_tanh", I=5), ("input", "output"), "output"),
        ("rnn_backward", "gru", _edit(b("gru"), hn_lin=None), (), "hn_lin is required"),
        ("rnn_backward", "lstm", _edit(b("lstm"), grad_c0=None), (), "grad_c0 is required"),
        (
            "rnn_backward",
            "rnn_tanh",
            _edit(b("rnn_tanh"), grad_h_n=np.zeros((2, 4), np.float32)),
            (),
            "grad_h_n has shape",
        ),
        ("rnn_backward", "lstm", b("lstm"), ("grad_h0", "grad_c0"), "grad_h0"),
        ("rnn_backward", "gru", b("gru", H=4), ("input", "grad_input"), "grad_input"),
    ]


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_argument_checks_match_the_cpu_binding(case):
    fn, mode, arrays, same, match = _bad_cases()[case]
    cpu_err = _call(_C, cpu, fn, mode, arrays, same=same)
    cuda_err = _call(C, fake_cuda, fn, mode, arrays, same=same)
    assert cpu_err is not None and cuda_err is not None
    assert type(cuda_err) is type(cpu_err)
    assert str(cuda_err) == str(cpu_err)
    assert re.search(match, str(cuda_err))


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_devices_are_checked_and_valid_calls_need_a_gpu():
    arrays = _fwd_arrays("lstm")
    ts = {k: None if a is None else fake_cuda(a) for k, a in arrays.items()}
    with pytest.raises(ValueError, match="ember.lstm: h0 is on cpu, expected cuda"):
        C.rnn_forward("lstm", **dict(ts, h0=cpu(arrays["h0"])), reverse=False)
    with pytest.raises(RuntimeError, match="ember.lstm"):
        C.rnn_forward("lstm", **ts, reverse=False)
    # lengths are read on the host, which needs the device
    with pytest.raises(RuntimeError, match="ember.lstm"):
        C.rnn_forward("lstm", **dict(ts, lengths=fake_cuda(np.ones(2, np.int64))), reverse=False)
    bts = {k: None if a is None else fake_cuda(a) for k, a in _bwd_arrays("gru").items()}
    with pytest.raises(RuntimeError, match="ember.gru"):
        C.rnn_backward("gru", **bts, reverse=True)


@needs_ext
@pytest.mark.parametrize("fn", ["rnn_forward", "rnn_backward"])
def test_signatures_match_the_cpu_binding(fn):
    """Same names and arguments, so kernels(dev, "rnn", fn) calls either alike."""
    sig = lambda mod: getattr(mod, fn).__doc__.splitlines()[0]  # noqa: E731
    assert sig(C) == sig(_C)


def _fake_cuda_on(arr, index):
    """fake_cuda, labelled cuda:<index> (the DLTensor's device_id follows its device_type)."""
    cap = cpu(arr).to_dlpack()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(cap, b"dltensor")
    ctypes.c_int32.from_address(ptr + 8).value = 2  # kDLCUDA
    ctypes.c_int32.from_address(ptr + 12).value = index
    return _C.from_dlpack(cap)


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_tensors_on_two_devices_are_rejected():
    arrays = _fwd_arrays("gru")
    ts = {k: None if a is None else fake_cuda(a) for k, a in arrays.items()}
    ts["gates"] = _fake_cuda_on(arrays["gates"], 1)
    with pytest.raises(ValueError, match="got input on cuda:0 and gates on cuda:1"):
        C.rnn_forward("gru", **ts, reverse=False)


# ------------------------------------------------ GPU: against the CPU kernels


def _inputs(rng, mode, T, B, I, H, dt, bias, state, lengths):
    G = GATES[mode]
    s = 1.0 / np.sqrt(H)
    a = {
        "input": rng.normal(0, 1, (T, B, I)),
        "weight_ih": rng.uniform(-s, s, (G * H, I)),
        "weight_hh": rng.uniform(-s, s, (G * H, H)),
        "bias_ih": rng.uniform(-s, s, G * H) if bias else None,
        "bias_hh": rng.uniform(-s, s, G * H) if bias else None,
        "h0": rng.normal(0, 0.5, (B, H)) if state else None,
        "c0": rng.normal(0, 0.5, (B, H)) if state and mode == "lstm" else None,
    }
    a = {k: None if v is None else v.astype(dt) for k, v in a.items()}
    a["lengths"] = rng.integers(0, T + 1, B).astype(np.int64) if lengths else None
    return a


def _run(mod, make, alloc, get, mode, ins, reverse, grads_seed):
    """Forward then backward on one device; returns every output as numpy arrays."""
    x = ins["input"]
    T, B, _ = x.shape
    H = ins["weight_hh"].shape[1]
    G = GATES[mode]
    lstm, gru = mode == "lstm", mode == "gru"
    code = 6 if x.dtype == np.float32 else 7
    t = {k: None if v is None else make(v) for k, v in ins.items()}
    out = {
        "output": alloc((T, B, H), code),
        "h_n": alloc((B, H), code),
        "c_n": alloc((B, H), code) if lstm else None,
        "hidden_states": alloc((T + 1, B, H), code),
        "cell_states": alloc((T + 1, B, H), code) if lstm else None,
        "gates": alloc((T, B, G * H), code),
        "hn_lin": alloc((T, B, H), code) if gru else None,
    }
    mod.rnn_forward(mode, **t, reverse=reverse, **out)
    r = np.random.default_rng(grads_seed)
    gin = {
        "grad_output": r.normal(0, 1, (T, B, H)).astype(x.dtype),
        "grad_h_n": r.normal(0, 1, (B, H)).astype(x.dtype),
        "grad_c_n": r.normal(0, 1, (B, H)).astype(x.dtype) if lstm else None,
    }
    g = {
        "grad_input": alloc(x.shape, code),
        "grad_weight_ih": alloc(ins["weight_ih"].shape, code),
        "grad_weight_hh": alloc(ins["weight_hh"].shape, code),
        "grad_bias_ih": alloc((G * H,), code),
        "grad_bias_hh": alloc((G * H,), code),
        "grad_h0": alloc((B, H), code),
        "grad_c0": alloc((B, H), code) if lstm else None,
    }
    mod.rnn_backward(
        mode,
        t["input"],
        t["weight_ih"],
        t["weight_hh"],
        t["lengths"],
        reverse,
        out["hidden_states"],
        out["cell_states"],
        out["gates"],
        out["hn_lin"],
        *[None if v is None else make(v) for v in gin.values()],
        **g,
    )
    # gates and hn_lin are left unwritten at padded steps (as on the CPU)
    skip = {"gates"} | ({"hn_lin"} if ins["lengths"] is not None else set())
    return {k: get(v) for k, v in {**out, **g}.items() if v is not None and k not in skip}


def _cpu_alloc(shape, code):
    return _C.TensorImpl.empty(list(shape), code)


def _gpu_alloc(shape, code):
    return C.empty(list(shape), code, 0)


SIZES = [(1, 1, 1, 1), (5, 3, 7, 11), (13, 4, 1, 33), (2, 17, 19, 5), (4, 2, 0, 3), (0, 3, 2, 4)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("reverse,lengths", [(False, False), (True, True), (False, True)])
@pytest.mark.parametrize("bias_state", [True, False])
@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_raw_bindings_match_the_cpu(mode, dt, size, reverse, lengths, bias_state, rng):
    ins = _inputs(rng, mode, *size, dt, bias_state, bias_state, lengths)
    want = _run(_C, cpu, _cpu_alloc, to_numpy, mode, ins, reverse, 7)
    got = _run(C, upload, _gpu_alloc, download, mode, ins, reverse, 7)
    tol = dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], err_msg=k, **tol)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_lengths_out_of_range_raise_before_writing(rng):
    ins = _inputs(rng, "gru", 3, 2, 4, 5, np.float32, True, True, False)
    ins["lengths"] = np.array([1, 4], np.int64)
    with pytest.raises(ValueError, match=r"ember.gru: lengths\[1\] = 4 is outside \[0, 3\]"):
        _run(C, upload, _gpu_alloc, download, "gru", ins, False, 0)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_bias_gradients_are_deterministic(rng):
    ins = _inputs(rng, "lstm", 64, 33, 16, 40, np.float32, True, True, True)
    a = _run(C, upload, _gpu_alloc, download, "lstm", ins, False, 3)
    b = _run(C, upload, _gpu_alloc, download, "lstm", ins, False, 3)
    for k in ("grad_bias_ih", "grad_bias_hh", "grad_weight_hh", "grad_input"):
        np.testing.assert_array_equal(a[k], b[k])


# ------------------------------------------------ GPU: modules moved to CUDA

MODULES = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, True)])
@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_modules_on_cuda_match_the_cpu(mode, dt, layers, bidir, rng):
    cls, kw = MODULES[mode]
    ember.manual_seed(1)
    m = cls(7, 13, num_layers=layers, bidirectional=bidir, **kw).to(getattr(ember, dt))
    x = rng.normal(0, 1, (9, 5, 7)).astype(dt)
    res = m(ember.from_numpy(x))
    out = res[0]
    gy = rng.normal(0, 1, out.shape).astype(dt)
    out.backward(ember.from_numpy(gy))
    want_out = out.detach().numpy()
    want_grads = {n: p.grad.numpy() for n, p in m.named_parameters()}
    for p in m.parameters():
        p.grad = None
    m.to("cuda")
    res = m(ember.from_numpy(x).to("cuda"))
    res[0].backward(ember.from_numpy(gy).to("cuda"))
    tol = dict(rtol=1e-4, atol=1e-5) if dt == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res[0].detach().cpu().numpy(), want_out, **tol)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.cpu().numpy(), want_grads[n], err_msg=n, **tol)
