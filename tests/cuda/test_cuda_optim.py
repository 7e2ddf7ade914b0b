"""ember._C_cuda's fused multi-tensor optimizers and gradient clipping.

Without a GPU: the chunk table builder on awkward sizes; the `_host_*` twins of every
binding, which run the very kernel bodies (per-element updates, chunking, 16-byte vector
and scalar tail paths, the norm's fixed-order block tree) on the host, against ember's CPU
kernels and numpy float64; the argument checks with "fake" CUDA tensors; the optimizers'
device dispatch. With a GPU (`-m cuda`): every kernel against its host twin (bit for bit:
the same IEEE operations in the same order) and against the CPU step, and the Python
optimizers end to end on CUDA parameters.
"""

from __future__ import annotations

import ctypes

import ember._C as _C
import numpy as np
import pytest

import ember
import ember.optim as optim
from ember import nn
from ember.nn.utils import clip_grad_norm_, clip_grad_value_
from ember.tensor import Tensor

try:
    import ember._C_cuda as C
except ImportError:
    C = None

HAS_GPU = ember.cuda.is_available()
needs_ext = pytest.mark.skipif(C is None, reason="ember._C_cuda was not built")
GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]
T = _C.TensorImpl.from_buffer
SENTINEL = 12345.0
CHUNK = 32768  # kChunk of csrc/cuda/optim/optim.h
# 0, 1, primes, around a vector and a chunk, bigger than a chunk
SIZES = [0, 1, 3, 4, 7, 17, 31, 1000, 4099, CHUNK + 5]


# ---------------------------------------------------------------- helpers


def fake_cuda(arr):
    """A TensorImpl labelled cuda:0 over host memory (via DLPack), for argument checks:
    it must never reach a kernel."""
    cap = T(arr).to_dlpack()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(cap, b"dltensor")
    ctypes.c_int32.from_address(ptr + 8).value = 2  # DLTensor.device.device_type = kDLCUDA
    impl = _C.from_dlpack(cap)
    assert impl.device_type == 1
    return impl


def aligned(values):
    """A copy of values in its own 64-byte aligned buffer (the kernels' vector path)."""
    raw = np.empty(values.nbytes + 64, np.uint8)
    off = (-raw.ctypes.data) % 64
    out = raw[off : off + values.nbytes].view(values.dtype)
    out[:] = values
    return out


def gapped(values_list, dtype):
    """Views of one buffer with 3-element SENTINEL gaps between them: mostly unaligned
    (the scalar path), and any write outside a tensor shows in the gaps."""
    total = sum(v.size for v in values_list) + 3 * (len(values_list) + 1)
    base = np.full(total, SENTINEL, dtype)
    out, at = [], 3
    for v in values_list:
        out.append(base[at : at + v.size])
        out[-1][:] = v
        at += v.size + 3
    return base, out


def layout(values_list, dtype, kind):
    """(base buffer or None, arrays) holding copies of values_list."""
    if kind == "aligned":
        return None, [aligned(v.astype(dtype)) for v in values_list]
    return gapped(values_list, dtype)


# Each variant: binding name, state buffers, (steps, mu_products) used, and the
# arguments after the tensor lists (check_finite appended by `call`).
def _sgd(momentum, dampening, wd, nesterov, maximize):
    def args(P, G, S, ST, MU, first):
        bufs = S[0] if momentum else []
        new = [first] * len(P) if momentum else []
        return (P, G, bufs, new, 0.05, momentum, dampening, wd, nesterov, maximize)

    return ("sgd_step", 1, args)


def _adam(amsgrad, decoupled, wd, maximize):
    def args(P, G, S, ST, MU, first):
        vmax = S[2] if amsgrad else []
        return (P, G, S[0], S[1], vmax, ST, 0.01, 0.9, 0.99, 1e-8, wd, amsgrad, maximize, decoupled)

    return ("adam_step", 3, args)


def _rmsprop(centered, momentum, wd):
    def args(P, G, S, ST, MU, first):
        ga = S[1] if centered else []
        buf = S[2] if momentum else []
        return (P, G, S[0], ga, buf, ST, 0.01, 0.9, 1e-8, wd, momentum, centered, False)

    return ("rmsprop_step", 3, args)


def _nadam(decoupled, wd):
    def args(P, G, S, ST, MU, first):
        return (P, G, S[0], S[1], MU, ST, 0.01, 0.9, 0.999, 1e-8, wd, 4e-3, decoupled, False)

    return ("nadam_step", 2, args)


def _radam(decoupled, wd):
    def args(P, G, S, ST, MU, first):
        return (P, G, S[0], S[1], ST, 0.01, 0.9, 0.999, 1e-8, wd, decoupled, True)

    return ("radam_step", 2, args)


VARIANTS = {
    "sgd-plain": _sgd(0.0, 0.0, 0.0, False, False),
    "sgd-momentum-damp-wd": _sgd(0.9, 0.1, 0.1, False, False),
    "sgd-nesterov-max": _sgd(0.9, 0.0, 0.0, True, True),
    "adagrad": (
        "adagrad_step",
        1,
        lambda P, G, S, ST, MU, first: (P, G, S[0], ST, 0.1, 0.01, 0.1, 1e-10, False),
    ),
    "rmsprop-plain": _rmsprop(False, 0.0, 0.0),
    "rmsprop-centered-momentum-wd": _rmsprop(True, 0.5, 0.1),
    "adam": _adam(False, False, 0.0, False),
    "adam-l2": _adam(False, False, 0.1, False),
    "adamw-amsgrad-max": _adam(True, True, 0.1, True),
    "lion-wd": (
        "lion_step",
        1,
        lambda P, G, S, ST, MU, first: (P, G, S[0], 0.01, 0.9, 0.99, 0.1, False),
    ),
    "lion-max": (
        "lion_step",
        1,
        lambda P, G, S, ST, MU, first: (P, G, S[0], 0.01, 0.9, 0.99, 0.0, True),
    ),
    "adadelta-wd": (
        "adadelta_step",
        2,
        lambda P, G, S, ST, MU, first: (P, G, S[0], S[1], ST, 1.0, 0.9, 1e-6, 0.1, False),
    ),
    "adamax-wd": (
        "adamax_step",
        2,
        lambda P, G, S, ST, MU, first: (P, G, S[0], S[1], ST, 0.01, 0.9, 0.999, 1e-8, 0.1, False),
    ),
    "nadam-decoupled": _nadam(True, 0.1),
    "nadam-l2": _nadam(False, 0.1),
    "radam": _radam(False, 0.1),
    "radam-decoupled": _radam(True, 0.0),
}


class Run:
    """One variant's tensors (p, g, state, counters) as numpy arrays in a layout."""

    def __init__(self, variant, dtype, kind, sizes, seed):
        _, nstate, self.args = VARIANTS[variant]
        self.name = VARIANTS[variant][0]
        rng = np.random.default_rng(seed)
        self.bases = []

        def arrays(fill):
            base, out = layout([fill(n) for n in sizes], dtype, kind)
            self.bases.append(base)
            return out

        self.p = arrays(rng.standard_normal)
        self.grads = [arrays(rng.standard_normal) for _ in range(7)]
        # state starts positive (square averages must be); s0 well above s1 squared, so
        # centered RMSprop's sq - ga^2 does not cancel (the CPU may fuse it into an fma)
        self.s = [arrays(lambda n, k=k: rng.uniform(*((0.5, 1.0) if k == 0 else (0.0, 0.1)), n))
                  for k in range(nstate)]  # fmt: skip
        self.steps = [np.zeros((), np.float32) for _ in sizes]
        self.mu = [np.ones((), np.float32) for _ in sizes]

    def step(self, module, prefix, i, check=False):
        P = [T(a) for a in self.p]
        G = [T(a) for a in self.grads[i]]
        S = [[T(a) for a in s] for s in self.s] + [[]] * 3
        fn = getattr(module, prefix + self.name)
        args = self.args(P, G, S, [T(a) for a in self.steps], [T(a) for a in self.mu], i == 0)
        return fn(*args, check)

    def state(self):
        return [self.p, *self.s, self.steps, self.mu]


def tol(dtype):
    """Against ember's CPU kernels: mostly bit-equal, but the compiler may fuse a CPU
    multiply and subtract into one fma (centered RMSprop's sq - ga^2), per ISA."""
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}


# ---------------------------------------------------------------- chunk table


def check_chunks(sizes, chunk):
    got = C._optim_chunks(sizes, chunk)
    covered = [np.zeros(n, np.int32) for n in sizes]
    for (t, c), (t2, c2) in zip(got, got[1:]):
        assert (t, c) < (t2, c2)  # tensor by tensor, in order
    for t, c in got:
        lo, hi = c * chunk, min(sizes[t], (c + 1) * chunk)
        assert 0 <= lo < hi
        covered[t][lo:hi] += 1
    assert all((cov == 1).all() for cov in covered)
    assert len(got) == sum(-(-n // chunk) for n in sizes)


@needs_ext
@pytest.mark.parametrize("chunk", [4, 8, 32768])
def test_chunk_table_covers_every_element_once(chunk):
    rng = np.random.default_rng(1)
    check_chunks([], chunk)
    check_chunks([0], chunk)
    check_chunks([1], chunk)
    check_chunks([0, 1, 0, 2, 3, 5, 7, 11, 13, 0], chunk)
    check_chunks([chunk - 1, chunk, chunk + 1, 3 * chunk + 7], chunk)
    check_chunks([int(n) for n in rng.integers(0, 3 * chunk, 2000)], chunk)
    assert C._optim_chunk == CHUNK and C._optim_block == 256


@needs_ext
def test_chunk_table_rejects_bad_input():
    with pytest.raises(ValueError, match="chunk size 6 must be a positive multiple of 4"):
        C._optim_chunks([3], 6)
    with pytest.raises(ValueError, match="chunk size 0"):
        C._optim_chunks([3], 0)
    with pytest.raises(ValueError, match="tensor 1 has -2 elements"):
        C._optim_chunks([3, -2], 4)
    with pytest.raises(ValueError, match="chunks of 4 elements in one call"):
        C._optim_chunks([4 * 2**31], 4)


# ---------------------------------------------------------------- host emulation


@needs_ext
@pytest.mark.parametrize("kind", ["aligned", "gapped"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_host_emulation_matches_cpu_step(variant, dtype, kind):
    """The kernel bodies, run on the host, against ember's CPU kernels: 7 steps (RAdam
    turns its rectification on at step 6), every awkward size, both code paths."""
    ours = Run(variant, dtype, kind, SIZES, seed=2)
    ref = Run(variant, dtype, kind, SIZES, seed=2)
    for i in range(7):
        assert ours.step(C, "_host_", i) is True
        assert ref.step(_C, "", i) is True
    for got_list, want_list in zip(ours.state(), ref.state()):
        for got, want in zip(got_list, want_list):
            np.testing.assert_allclose(got, want, **tol(dtype))
    for base in ours.bases:
        if base is not None:  # the gaps between the tensors are untouched
            assert (base[:3] == SENTINEL).all() and (base[-3:] == SENTINEL).all()
            assert np.count_nonzero(base == SENTINEL) >= 3 * (len(SIZES) + 1)


def numpy_adam(p, g, m, v, vmax, t, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled):
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if amsgrad:
        vmax = np.maximum(vmax, v)
    vh = vmax if amsgrad else v
    denom = np.sqrt(vh) / np.sqrt(1 - b2**t) + eps
    return p - lr / (1 - b1**t) * m / denom, m, v, vmax


@needs_ext
@pytest.mark.parametrize("amsgrad,decoupled,maximize", [(False, False, False), (True, True, True)])
def test_host_adam_matches_numpy_float64(amsgrad, decoupled, maximize):
    rng = np.random.default_rng(3)
    n = 1031
    p, m, v, vmax = (aligned(np.zeros(n)) for _ in range(4))
    p[:] = rng.standard_normal(n)
    want = [p.copy(), m.copy(), v.copy(), vmax.copy()]
    step = np.zeros((), np.float32)
    hyper = (1e-2, 0.9, 0.99, 1e-8, 0.1, amsgrad, maximize, decoupled)
    for t in range(1, 5):
        g = aligned(rng.standard_normal(n))
        C._host_adam_step(
            [T(p)], [T(g)], [T(m)], [T(v)], [T(vmax)] if amsgrad else [], [T(step)], *hyper, False
        )
        want = numpy_adam(want[0], g, *want[1:], t, *hyper)
    np.testing.assert_allclose(p, want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m, want[1], rtol=1e-12, atol=1e-14)
    assert float(step) == 4.0


@needs_ext
def test_host_sgd_and_lion_match_numpy_float64():
    rng = np.random.default_rng(4)
    n = 517
    p, buf, g = (aligned(rng.standard_normal(n)) for _ in range(3))
    p0, g0 = p.copy(), g.copy()
    # Nesterov SGD from a fresh buffer (it becomes the gradient) with weight decay
    C._host_sgd_step([T(p)], [T(g)], [T(buf)], [True], 0.1, 0.9, 0.0, 0.01, True, False, False)
    d = g0 + 0.01 * p0
    np.testing.assert_allclose(buf, d, rtol=1e-15)
    np.testing.assert_allclose(p, p0 - 0.1 * (d + 0.9 * d), rtol=1e-13, atol=1e-15)
    # Lion: sign of the interpolation, decoupled decay; zeros give a zero update
    p, m, g = (aligned(rng.standard_normal(n)) for _ in range(3))
    g[:5] = 0.0
    m[:5] = 0.0
    p0, m0 = p.copy(), m.copy()
    C._host_lion_step([T(p)], [T(g)], [T(m)], 0.01, 0.9, 0.99, 0.1, False, False)
    c = 0.9 * m0 + 0.1 * g
    np.testing.assert_allclose(p, p0 * (1 - 0.01 * 0.1) - 0.01 * np.sign(c), rtol=1e-14)
    np.testing.assert_allclose(m, 0.99 * m0 + 0.01 * g, rtol=1e-14)


@needs_ext
def test_host_check_finite_skips_the_whole_step():
    run = Run("adam", np.float32, "gapped", SIZES, seed=5)
    run.grads[0][-1][7] = np.nan
    before = [[a.copy() for a in lst] for lst in run.state()]
    assert run.step(C, "_host_", 0, check=True) is False
    for got, want in zip(run.state(), before):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)  # steps not counted either
    run.grads[0][-1][7] = np.inf
    assert run.step(C, "_host_", 0, check=True) is False
    run.grads[0][-1][7] = 0.5
    assert run.step(C, "_host_", 0, check=True) is True
    assert all(float(s) == 1.0 for s in run.steps)


@needs_ext
def test_host_mixed_dtypes_in_one_group():
    rng = np.random.default_rng(6)
    ps = [
        aligned(rng.standard_normal(n).astype(dt)) for n, dt in ((5, np.float32), (9, np.float64))
    ]
    gs = [aligned(rng.standard_normal(a.size).astype(a.dtype)) for a in ps]
    want = [p - 0.5 * g for p, g in zip(ps, gs)]
    C._host_sgd_step(
        [T(a) for a in ps], [T(a) for a in gs], [], [], 0.5, 0, 0, 0, False, False, False
    )
    for got, w in zip(ps, want):
        np.testing.assert_allclose(got, w, rtol=1e-6)


# ---------------------------------------------------------------- norms and clipping


def grad_list(dtype, kind, seed=7):
    rng = np.random.default_rng(seed)
    base, xs = layout([rng.standard_normal(n) * 3 for n in SIZES], dtype, kind)
    return base, xs


def numpy_norm(xs, p):
    flat = np.concatenate([x.astype(np.float64).ravel() for x in xs])
    if np.isinf(p):
        return np.abs(flat).max()
    return (np.abs(flat) ** p).sum() ** (1 / p)


@needs_ext
@pytest.mark.parametrize("kind", ["aligned", "gapped"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [1.0, 2.0, np.inf, 3.0, 0.5])
def test_host_total_norm_matches_numpy(p, dtype, kind):
    _, xs = grad_list(dtype, kind)
    norm, bad = C._host_total_norm([T(x) for x in xs], p)
    assert bad is False
    np.testing.assert_allclose(norm, numpy_norm(xs, p), rtol=1e-12)
    cpu_norm, _ = _C.total_norm([T(x) for x in xs], p)
    np.testing.assert_allclose(norm, cpu_norm, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # one fixed reduction order: the same bits every time
    assert C._host_total_norm([T(x) for x in xs], p)[0] == norm


@needs_ext
@pytest.mark.parametrize("p", [1.0, 2.0, np.inf])
def test_host_total_norm_flags_nan_and_inf(p):
    _, xs = grad_list(np.float32, "gapped")
    xs[-1][100] = np.inf
    norm, bad = C._host_total_norm([T(x) for x in xs], p)
    assert bad is True and norm == np.inf
    xs[3][1] = np.nan
    norm, bad = C._host_total_norm([T(x) for x in xs], p)
    assert bad is True and np.isnan(norm)
    assert C._host_total_norm([], p) == (0.0, False)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_clipping_matches_cpu(dtype):
    for kind in ("aligned", "gapped"):
        base, ours = grad_list(dtype, kind)
        _, ref = grad_list(dtype, kind)
        got = C._host_clip_grad_norm([T(x) for x in ours], 1.5, 2.0, False)
        want = _C.clip_grad_norm([T(x) for x in ref], 1.5, 2.0, False)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
        assert numpy_norm(ours, 2.0) == pytest.approx(1.5, rel=1e-5)
        C._host_clip_grad_value([T(x) for x in ours], 0.01)
        _C.clip_grad_value([T(x) for x in ref], 0.01)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)
        C._host_scale_all([T(x) for x in ours], -3.0)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, (b * dtype(-3.0)).astype(dtype))
        if base is not None:
            assert (base[:3] == SENTINEL).all() and (base[-3:] == SENTINEL).all()
    # NaN stays NaN under clamping; a non-finite norm with the error flag writes nothing
    x = aligned(np.array([np.nan, 5.0, -5.0, 0.5], dtype))
    C._host_clip_grad_value([T(x)], 1.0)
    np.testing.assert_array_equal(x, np.array([np.nan, 1.0, -1.0, 0.5], dtype))
    before = x.copy()
    norm, bad = C._host_clip_grad_norm([T(x)], 0.1, 2.0, True)
    assert bad and np.isnan(norm)
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------- argument checks


@needs_ext
def test_argument_checks_with_fake_cuda_tensors():
    f = [fake_cuda(np.zeros((3, 4), np.float32)) for _ in range(4)]
    f64 = fake_cuda(np.zeros((3, 4), np.float64))
    wrong = fake_cuda(np.zeros((5,), np.float32))
    i32 = fake_cuda(np.zeros((3, 4), np.int32))
    host = T(np.zeros((3, 4), np.float32))
    step = T(np.zeros((), np.float32))
    adam = (1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False, False)
    with pytest.raises(ValueError, match=r"ember.optim.adam: grads\[0\] is on cpu; ember CUDA"):
        C.adam_step([f[0]], [host], [f[1]], [f[2]], [], [step], *adam)
    with pytest.raises(ValueError, match=r"ember.optim.adam: params\[0\] is on cpu"):
        C.adam_step([host], [f[0]], [f[1]], [f[2]], [], [step], *adam)
    with pytest.raises(TypeError, match=r"exp_avgs\[0\] has dtype float64 but params\[0\]"):
        C.adam_step([f[0]], [f[1]], [f64], [f[2]], [], [step], *adam)
    with pytest.raises(ValueError, match=r"exp_avg_sqs\[0\] has shape \(5,\) but params\[0\]"):
        C.adam_step([f[0]], [f[1]], [f[2]], [wrong], [], [step], *adam)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int32"):
        C.adam_step([i32], [f[1]], [f[2]], [f[3]], [], [step], *adam)
    with pytest.raises(
        ValueError, match=r"steps\[0\] must be a one-element float32 or float64 CPU"
    ):
        C.adam_step([f[0]], [f[1]], [f[2]], [f[3]], [], [f64], *adam)
    with pytest.raises(ValueError, match="max_exp_avg_sqs must be empty when amsgrad is False"):
        C.adam_step([f[0]], [f[1]], [f[2]], [f[3]], [f[3]], [step], *adam)
    with pytest.raises(ValueError, match="ember.optim.adamw: invalid beta parameter at index 1"):
        C.adam_step([f[0]], [f[1]], [f[2]], [f[3]], [], [step], 1e-3, 0.9, 1.0, 1e-8, 0.0,
                    False, False, True, False)  # fmt: skip
    with pytest.raises(ValueError, match=r"params\[0\] and params\[1\] overlap in memory"):
        C.sgd_step([f[0], f[0]], [f[1], f[2]], [], [], 0.1, 0, 0, 0, False, False, False)
    with pytest.raises(ValueError, match=r"must be contiguous"):
        C.lion_step([f[0].as_strided([4, 3], [1, 4], 0)], [f[1]], [f[2]], 0.1, 0.9, 0.99, 0.0,
                    False, False)  # fmt: skip
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        C.sgd_step([f[0]], [f[1]], [], [], 0.1, 0.0, 0.0, 0.0, True, False, False)
    with pytest.raises(ValueError, match="ember.optim.adadelta: invalid rho value: 1.5"):
        C.adadelta_step([f[0]], [f[1]], [f[2]], [f[3]], [step], 1.0, 1.5, 1e-6, 0, False, False)
    with pytest.raises(ValueError, match=r"ember.optim.nadam: mu_products has 0 tensors"):
        C.nadam_step([f[0]], [f[1]], [f[2]], [f[3]], [], [step], 1e-3, 0.9, 0.999, 1e-8, 0.0,
                     4e-3, False, False, False)  # fmt: skip
    with pytest.raises(ValueError, match="get_total_norm: norm_type must be positive"):
        C.total_norm([f[0]], -1.0)
    with pytest.raises(ValueError, match=r"clip_grad_norm_: tensors\[1\] is on cpu"):
        C.clip_grad_norm([f[0], host], 1.0, 2.0, False)
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value is NaN"):
        C.clip_grad_value([f[0]], float("nan"))
    with pytest.raises(ValueError, match=r"_host_|host emulation of the CUDA kernels needs CPU"):
        C._host_scale_all([f[0]], 2.0)
    # empty lists are no-ops that need no device
    assert C.adam_step([], [], [], [], [], [], *adam) is True
    assert C.total_norm([], 2.0) == (0.0, False)


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_valid_call_without_gpu_raises_runtime_error():
    f = [fake_cuda(np.zeros(5, np.float32)) for _ in range(3)]
    with pytest.raises(RuntimeError, match="ember.optim.lion: no CUDA GPU is available"):
        C.lion_step([f[0]], [f[1]], [f[2]], 0.1, 0.9, 0.99, 0.0, False, False)


def fake_param(n):
    p = nn.Parameter(Tensor(fake_cuda(np.zeros(n, np.float32))))
    p.grad = Tensor(fake_cuda(np.zeros(n, np.float32)))
    return p


@needs_ext
def test_optimizer_rejects_a_group_on_mixed_devices():
    cpu = nn.Parameter(ember.ones(3))
    cpu.grad = ember.ones(3)
    opt = optim.SGD([cpu, fake_param(3)], lr=0.1)  # no state: nothing to create on cuda
    with pytest.raises(ValueError, match=r"ember.optim.SGD: the parameters of param group 0 are"):
        opt.step()
    assert float(cpu.detach().numpy()[0]) == 1.0  # nothing written
    with pytest.raises(NotImplementedError, match="ember.optim.LBFGS: not implemented for CUDA"):
        optim.LBFGS([fake_param(3)])


# ---------------------------------------------------------------- on a GPU


def upload(arrays):
    return [ember.tensor(a, device="cuda")._impl for a in arrays]


def download(impls, like):
    for impl, a in zip(impls, like):
        a[...] = Tensor(impl).cpu().numpy()


@pytest.mark.parametrize("kind", ["aligned", "gapped"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_gpu_step_matches_host_twin_and_cpu(variant, dtype, kind):
    host = Run(variant, dtype, kind, SIZES, seed=8)
    ref = Run(variant, dtype, kind, SIZES, seed=8)
    dev = Run(variant, dtype, kind, SIZES, seed=8)
    # device copies of p and the state; counters stay on the CPU
    ds = [upload(s) for s in dev.s]
    if kind == "gapped":  # parameters one element into their buffers: the scalar path
        pad = [np.concatenate([np.zeros(1, dtype), a]) for a in dev.p]
        dp = [ember.tensor(a, device="cuda")[1:]._impl for a in pad]
    else:
        dp = upload(dev.p)
    for i in range(7):
        host.step(C, "_host_", i)
        ref.step(_C, "", i)
        fn = getattr(C, dev.name)
        S = [*ds, [], [], []]
        args = dev.args(dp, upload(dev.grads[i]), S, [T(a) for a in dev.steps],
                        [T(a) for a in dev.mu], i == 0)  # fmt: skip
        assert fn(*args, False) is True
    download(dp, dev.p)
    for s_impls, s in zip(ds, dev.s):
        download(s_impls, s)
    for a, b, c in zip(dev.state(), host.state(), ref.state()):
        for x, y, z in zip(a, b, c):
            np.testing.assert_array_equal(x, y)  # same IEEE operations, same order
            np.testing.assert_allclose(x, z, **tol(dtype))


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_norms_and_clipping(dtype):
    _, xs = grad_list(dtype, "aligned")
    d = upload(xs)
    for p in (1.0, 2.0, np.inf, 3.0):
        got = C.total_norm(d, p)
        assert got == C.total_norm(d, p)  # deterministic: no atomics
        want = C._host_total_norm([T(x) for x in xs], p)
        if p != 3.0:
            assert got == want  # the same tree on the host
        np.testing.assert_allclose(got[0], numpy_norm(xs, p), rtol=1e-12)
    C.clip_grad_norm(d, 1.0, 2.0, False)
    C._host_clip_grad_norm([T(x) for x in xs], 1.0, 2.0, False)
    for impl, x in zip(d, xs):
        np.testing.assert_array_equal(Tensor(impl).cpu().numpy(), x)
    C.clip_grad_value(d, 1e-3)
    C._host_clip_grad_value([T(x) for x in xs], 1e-3)
    for impl, x in zip(d, xs):
        np.testing.assert_array_equal(Tensor(impl).cpu().numpy(), x)
    bad = upload([np.array([1.0, np.nan], dtype)])
    norm, nonfinite = C.total_norm(bad, 2.0)
    assert nonfinite and np.isnan(norm)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
        lambda ps: optim.AdamW(ps, lr=1e-2),
        lambda ps: optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True),
        lambda ps: optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.5),
        lambda ps: optim.Adagrad(ps, lr=1e-2, lr_decay=0.01),
        lambda ps: optim.Lion(ps, lr=1e-3, weight_decay=0.1),
        lambda ps: optim.NAdam(ps, lr=1e-2),
        lambda ps: optim.RAdam(ps, lr=1e-2),
        lambda ps: optim.Adamax(ps, lr=1e-2),
        lambda ps: optim.Adadelta(ps),
    ],
)
def test_gpu_optimizers_end_to_end(make):
    rng = np.random.default_rng(9)
    shapes = [(3, 5), (7,), (1,), (129, 33)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    cpu_ps = [nn.Parameter(ember.tensor(a)) for a in init]
    gpu_ps = [nn.Parameter(ember.tensor(a, device="cuda")) for a in init]
    opt_cpu, opt_gpu = make(cpu_ps), make(gpu_ps)
    for _ in range(4):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for p, g in zip(cpu_ps, grads):
            p.grad = ember.tensor(g)
        for p, g in zip(gpu_ps, grads):
            p.grad = ember.tensor(g, device="cuda")
        opt_cpu.step()
        opt_gpu.step()
    for a, b in zip(gpu_ps, cpu_ps):
        assert a.is_cuda
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
    # as torch returns it: on the gradients' device
    g = clip_grad_norm_(gpu_ps, 0.5)
    assert g.is_cuda and g.shape == () and g.dtype is ember.float32
    assert float(g) == pytest.approx(float(clip_grad_norm_(cpu_ps, 0.5)), rel=1e-6)
    clip_grad_value_(gpu_ps, 0.01)
    assert all(np.abs(p.grad.cpu().numpy()).max() <= 0.01 for p in gpu_ps)
    with pytest.raises(NotImplementedError, match="ember.optim.LBFGS: not implemented for CUDA"):
        optim.LBFGS(gpu_ps)
