"""ember._C_cuda row families: reduce, reduce_arg, softmax, layer / RMS norm, cross-entropy.

Without a GPU: the launch plans (every value of a reduced axis in exactly one split, block
sizes by row length), the __host__ __device__ merge steps the kernels use (online softmax,
Welford, arg-extreme, cross-entropy row) against numpy float64, and every argument check
against the CPU binding's exception and message for the same bad call (fake CUDA tensors).
With a GPU (`-m cuda`): every kernel against ember's CPU kernel on the same inputs, awkward
shapes, dtype-aware tolerances, and bitwise-equal repeated runs.
"""

import math

import ember._C as _C
import numpy as np
import pytest
from test_cuda import BF16, F32, F64, GPU, C, cpu, download, fake_cuda, no_gpu, to_numpy, upload

import ember

needs_ext = pytest.mark.skipif(C is None, reason="ember._C_cuda was not built")
pytestmark = needs_ext

ROW_LENGTHS = [0, 1, 2, 7, 31, 32, 33, 255, 256, 257, 1000, 8191, 8192, 8193, 100003, 10**7]


# ---------------------------------------------------------------- launch plans


@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("rows", [0, 1, 5, 4097, 10**8])
@pytest.mark.parametrize("max_threads", [512, 1024])  # float64 rows: 512
def test_row_plan(rows, n, max_threads):
    p = C._row_plan(rows, n, max_threads)
    tpr, rpb = p["threads_per_row"], p["rows_per_block"]
    assert tpr & (tpr - 1) == 0 and 32 <= tpr <= max_threads
    want = max(1, math.ceil(n / 8))  # about 8 values per thread
    assert tpr >= min(want, max_threads) and (tpr == 32 or tpr // 2 < want)
    assert rpb == (8 if tpr == 32 else 1)
    assert p["block"] == tpr * rpb <= max_threads  # within the kernels' launch bounds
    assert 1 <= p["grid"] <= 1 << 20
    assert p["grid"] * rpb >= rows or p["grid"] == 1 << 20  # grid-stride beyond


def check_splits(r, splits, chunk):
    """Each j in [0, r) falls in exactly one non-empty split."""
    assert 1 <= splits <= 1024
    if r == 0:
        assert splits == 1 and chunk == 0
        return
    assert chunk * splits >= r and chunk * (splits - 1) < r


SHAPES = [
    (1, 1, 1),
    (3, 0, 1),
    (3, 0, 5),
    (0, 7, 1),
    (7, 33, 1),
    (1, 16384, 1),
    (1, 16385, 1),
    (2, 10**6, 1),
    (1, 10**8, 1),
    (5000, 70000, 1),
    (3, 5, 2),
    (2, 1025, 3),
    (1, 70000, 33),
    (1, 10**6, 1),
    (7, 3000, 100003),
    (1, 10**7, 2),
]


@pytest.mark.parametrize("outer, r, inner", SHAPES)
def test_reduce_plan(outer, r, inner):
    p = C._reduce_plan(outer, r, inner)
    assert p["rows"] == (inner == 1)
    check_splits(r, p["splits"], p["chunk"])
    tiles = 1 if inner == 1 else p["tiles"]
    if p["splits"] > 1:  # only when the other axes leave too few tasks
        assert outer * tiles < 1024
        second = C._reduce_plan(outer, p["splits"], inner)
        assert second["splits"] == 1  # the partials merge in one pass, in split order
    if inner == 1:
        assert p["row"] == C._row_plan(outer * p["splits"], p["chunk"])
    else:
        assert (tiles - 1) * 32 < inner <= tiles * 32
        by = p["block_y"]
        assert by & (by - 1) == 0 and 1 <= by <= 32
        assert by <= max(p["chunk"], 1) < 2 * by or by == 32
        assert 1 <= p["grid"] <= min(max(outer * tiles * p["splits"], 1), 1 << 20)


TASK_SHAPES = [s for s in SHAPES if s[0] * s[2] <= 10**5] + [(3, 100000, 40), (2, 40000, 1)]


@pytest.mark.parametrize("outer, r, inner", TASK_SHAPES)
def test_reduce_tasks_cover_every_value_once(outer, r, inner):
    """The kernels' task -> (o, split, columns, [j0, j1)) map: every output column gets
    each j in [0, r) from exactly one task, and the splits of one output are in order."""
    p = C._reduce_plan(outer, r, inner)
    tasks = C._reduce_tasks(outer, r, inner)
    width = 1 if inner == 1 else 32
    seen = {}
    for o, s, k0, j0, j1 in tasks:
        assert 0 <= o < outer and 0 <= s < p["splits"] and k0 % width == 0 and k0 < max(inner, 1)
        assert j0 == s * p["chunk"] and j1 == min(r, j0 + p["chunk"])
        assert (o, s, k0) not in seen
        seen[(o, s, k0)] = (j0, j1)
    tiles = range(0, inner, width) if inner > 1 else [0]
    for o in range(outer):
        for k0 in tiles:
            ranges = [seen.pop((o, s, k0)) for s in range(p["splits"])]
            assert ranges[0][0] == 0 and ranges[-1][1] == r
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert all(j0 < j1 for j0, j1 in ranges) or r == 0
    assert not seen


@pytest.mark.parametrize("rows", [0, 1, 15, 64, 65, 4096, 10**6])
@pytest.mark.parametrize("n", [1, 31, 32, 33, 768, 100003])
def test_param_grad_plan(rows, n):
    p = C._param_grad_plan(rows, n)
    assert (p["tiles"] - 1) * 32 < n <= p["tiles"] * 32
    assert p["block_y"] == 8
    assert 1 <= p["chunks"] <= 256
    if rows == 0:
        assert p["chunks"] == 1
    else:
        check_splits(rows, p["chunks"], p["chunk_rows"])


# ---------------------------------------------------------------- merge steps on the host


LANES = [1, 2, 32, 1024]


def values(rng, n, scale=5.0, offset=0.0):
    return list(rng.standard_normal(n) * scale + offset)


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("n", [1, 7, 33, 1000, 4099])
def test_online_softmax_merge(rng, lanes, n):
    x = np.array(values(rng, n, 20.0))
    x[rng.integers(0, n, max(1, n // 7))] = -np.inf
    x[0] = 3.0  # at least one finite value
    m = x.max()
    s = np.exp(x - m).sum()
    got_m, got_s = C._softmax_fold(list(x), lanes, False)
    assert got_m == m
    assert got_s == pytest.approx(s, rel=1e-13)
    got_m, got_s = C._softmax_fold(list(x), lanes, True)
    assert got_m == np.float32(m)
    assert got_s == pytest.approx(s, rel=1e-5)


@pytest.mark.parametrize("lanes", LANES)
def test_online_softmax_special_values(lanes):
    # A row of only -inf: s = 0, so softmax comes out NaN (as on the CPU).
    m, s = C._softmax_fold([-np.inf] * 5, lanes, False)
    assert m == -np.inf and s == 0.0
    # NaN or +inf anywhere makes the sum NaN.
    for bad in (np.nan, np.inf):
        for pos in (0, 3, 6):
            x = [1.0, -2.0, 0.5, 4.0, -np.inf, 2.0, 3.0]
            x[pos] = bad
            assert math.isnan(C._softmax_fold(x, lanes, False)[1])
            assert math.isnan(C._softmax_fold(x, lanes, True)[1])


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 4099])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_welford_merge(rng, lanes, n, offset):
    x = np.array(values(rng, n, 3.0, offset))
    mean = x.mean()
    m2 = ((x - mean) ** 2).sum()
    cnt, got_mean, got_m2 = C._welford_fold(list(x), lanes, False)
    assert cnt == n
    assert got_mean == pytest.approx(mean, rel=1e-13, abs=1e-13)
    assert got_m2 == pytest.approx(m2, rel=1e-9, abs=1e-9)
    # float32: a large mean does not swamp the variance
    x32 = x.astype(np.float32).astype(np.float64)
    mean32, m232 = x32.mean(), ((x32 - x32.mean()) ** 2).sum()
    cnt, got_mean, got_m2 = C._welford_fold(list(x32), lanes, True)
    assert got_mean == pytest.approx(mean32, rel=1e-6, abs=1e-6)
    assert got_m2 == pytest.approx(m232, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("is_max", [True, False])
def test_arg_merge_first_extreme_and_nan(rng, lanes, is_max):
    for n in (1, 5, 64, 1001):
        x = rng.integers(-3, 4, n).astype(np.float64)  # many ties
        want = int(np.argmax(x) if is_max else np.argmin(x))
        assert C._arg_fold(list(x), lanes, is_max) == (x[want], want)
        if n > 3:
            x[[n // 2, 2, n - 1]] = np.nan  # the first NaN wins
            v, i = C._arg_fold(list(x), lanes, is_max)
            assert math.isnan(v) and i == 2


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_cross_entropy_row(rng, lanes, eps):
    for n, t in ((1, 0), (7, 3), (1000, 999)):
        x = np.array(values(rng, n, 4.0))
        lse = x.max() + np.log(np.exp(x - x.max()).sum())
        want = lse - (1 - eps) * x[t] - eps / n * x.sum()
        assert C._cross_entropy_row(list(x), t, eps, lanes, False) == pytest.approx(
            want, rel=1e-12, abs=1e-12
        )
        assert C._cross_entropy_row(list(x), t, eps, lanes, True) == pytest.approx(
            want, rel=1e-5, abs=1e-4
        )


# ---------------------------------------------------------------- argument checks


def _mk(kind):
    """Array -> tensor on the CPU (ember._C) or fake CUDA (ember._C_cuda); None stays."""
    conv = cpu if kind == "cpu" else fake_cuda
    return lambda a: None if a is None else conv(a)


def z(shape, dt=np.float32):
    return np.zeros(shape, dt)


BF = np.uint16  # bfloat16 bit patterns

# (binding, argument builder): each call is invalid and must fail the same way on both.
BAD_CALLS = [
    ("reduce", lambda t: ("foo", t(z(3)), t(z(1)), 1, 3, 1)),
    ("reduce", lambda t: ("sum", t(z(3)), t(z(1, np.float64)), 1, 3, 1)),
    ("reduce", lambda t: ("mean", t(z(3, np.int32)), t(z(1, np.int32)), 1, 3, 1)),
    ("reduce", lambda t: ("sum", t(z(3, np.float16)), t(z(1, np.float16)), 1, 3, 1)),
    ("reduce", lambda t: ("sum", t(z(3, bool)), t(z(1, bool)), 1, 3, 1)),
    ("reduce", lambda t: ("sum", t(z((3, 4))), t(z(3)), 3, 5, 1)),
    ("reduce", lambda t: ("sum", t(z((3, 4))), t(z(4)), 3, 4, 1)),
    ("reduce", lambda t: ("sum", t(z((3, 4))), t(z(3)), -3, -4, 1)),
    ("reduce", lambda t: ("max", t(z((3, 0))), t(z(3)), 3, 0, 1)),
    ("reduce_arg", lambda t: ("sum", t(z(3)), t(z(1)), t(z(1, np.int64)), 1, 3, 1)),
    ("reduce_arg", lambda t: ("max", t(z(3, bool)), t(z(1, bool)), t(z(1, np.int64)), 1, 3, 1)),
    ("reduce_arg", lambda t: ("max", t(z(3)), t(z(1)), t(z(1, np.int32)), 1, 3, 1)),
    ("reduce_arg", lambda t: ("max", t(z(3)), t(z(1)), t(z(2, np.int64)), 1, 3, 1)),
    ("reduce_arg", lambda t: ("min", t(z((2, 0))), t(z(2)), t(z(2, np.int64)), 2, 0, 1)),
    ("softmax", lambda t: (t(z(3, np.int32)), t(z(3, np.int32)), False)),
    ("softmax", lambda t: (t(z((3, 4))), t(z((4, 3))), True)),
    ("softmax", lambda t: (t(z(3)), t(z(3, np.float64)), False)),
    ("softmax_backward", lambda t: (t(z(3)), t(z(3, np.float64)), t(z(3)), False)),
    ("softmax_backward", lambda t: (t(z(3)), t(z(3)), t(z(4)), True)),
    (
        "layer_norm_forward",
        lambda t: (t(z(6, np.int32)), 3, None, None, t(z(6)), t(z(2)), t(z(2)), 1e-5),
    ),  # noqa: E501
    ("layer_norm_forward", lambda t: (t(z(6)), 0, None, None, t(z(6)), t(z(2)), t(z(2)), 1e-5)),
    ("layer_norm_forward", lambda t: (t(z(6)), 4, None, None, t(z(6)), t(z(2)), t(z(2)), 1e-5)),
    (
        "layer_norm_forward",
        lambda t: (t(z(6)), 3, t(z(3, np.float64)), None, t(z(6)), t(z(2)), t(z(2)), 1e-5),
    ),  # noqa: E501
    ("layer_norm_forward", lambda t: (t(z(6)), 3, None, t(z(4)), t(z(6)), t(z(2)), t(z(2)), 1e-5)),
    (
        "layer_norm_forward",
        lambda t: (t(z(6)), 3, None, None, t(z(6)), t(z(2, np.float64)), t(z(2)), 1e-5),
    ),  # noqa: E501
    ("layer_norm_forward", lambda t: (t(z(6)), 3, None, None, t(z(6)), t(z(2)), t(z(3)), 1e-5)),
    ("layer_norm_forward", lambda t: (t(z(6)), 3, None, None, t(z(5)), t(z(2)), t(z(2)), 1e-5)),
    ("layer_norm_forward", lambda t: (t(z(6)), 3, None, None, t(z(6)), t(z(2)), t(z(2)), -1.0)),
    (
        "layer_norm_forward",
        lambda t: (t(z(6, BF)), 3, t(z(3, np.float64)), None, t(z(6, BF)), t(z(2)), t(z(2)), 1e-5),
    ),  # noqa: E501
    ("rms_norm_forward", lambda t: (t(z(6)), 3, None, t(z(6)), t(z(2)), float("nan"))),
    ("rms_norm_forward", lambda t: (t(z(6, BF)), 3, None, t(z(6, BF)), t(z(2, BF)), 1e-5)),
    (
        "layer_norm_backward",
        lambda t: (t(z(5)), t(z(6)), 3, None, t(z(2)), t(z(2)), t(z(6)), None, None),
    ),  # noqa: E501
    (
        "layer_norm_backward",
        lambda t: (t(z(6)), t(z(6)), 3, None, t(z(2)), t(z(2)), None, t(z(3, np.float64)), None),
    ),  # noqa: E501
    ("rms_norm_backward", lambda t: (t(z(6)), t(z(6)), 3, None, t(z(3)), t(z(6)), None)),
    (
        "cross_entropy_forward",
        lambda t: (t(z((2, 3), np.int32)), t(z(2, np.int64)), t(z(2)), t(z((2, 3))), -100, 0.0),
    ),  # noqa: E501
    ("cross_entropy_forward", lambda t: (t(z(6)), t(z(2, np.int64)), t(z(2)), t(z(6)), -100, 0.0)),
    ("cross_entropy_forward", lambda t: (t(z((2, 3))), t(z(2)), t(z(2)), t(z((2, 3))), -100, 0.0)),
    (
        "cross_entropy_forward",
        lambda t: (t(z((2, 3))), t(z(3, np.int64)), t(z(2)), t(z((2, 3))), -100, 0.0),
    ),  # noqa: E501
    (
        "cross_entropy_forward",
        lambda t: (t(z((2, 0))), t(z(2, np.int64)), t(z(2)), t(z((2, 0))), -100, 0.0),
    ),  # noqa: E501
    (
        "cross_entropy_forward",
        lambda t: (t(z((2, 3))), t(z(2, np.int64)), t(z(2)), t(z((2, 3))), -100, 1.5),
    ),  # noqa: E501
    (
        "cross_entropy_forward",
        lambda t: (t(z((2, 3))), t(z(2, np.int64)), t(z(2, np.float64)), t(z((2, 3))), -100, 0.0),
    ),  # noqa: E501
    ("cross_entropy_backward", lambda t: (t(z((2, 3))), t(z(1, np.float64)), t(z((2, 3))), 1.0)),
    ("cross_entropy_backward", lambda t: (t(z((2, 3))), t(z(3)), t(z((2, 3))), 1.0)),
    (
        "cross_entropy_backward",
        lambda t: (t(z((2, 3), np.int32)), t(z(1)), t(z((2, 3), np.int32)), 1.0),
    ),  # noqa: E501
    ("cross_entropy_backward", lambda t: (t(z((2, 3))), t(z(1)), t(z((3, 3))), 1.0)),
]


def _error(fn, args):
    with pytest.raises((ValueError, TypeError, IndexError)) as e:
        fn(*args)
    return type(e.value), str(e.value)


@no_gpu
@pytest.mark.parametrize("name, build", BAD_CALLS)
def test_bad_arguments_fail_like_the_cpu(name, build):
    want = _error(getattr(_C, name), build(_mk("cpu")))
    got = _error(getattr(C, name), build(_mk("cuda")))
    assert got == want


def test_overlapping_outputs_fail_like_the_cpu():
    for kind, mod in (("cpu", _C), ("cuda", C)):
        if kind == "cuda" and ember.cuda.is_available():
            continue
        t = _mk(kind)
        x = t(z(4))
        with pytest.raises(ValueError, match="ember.sum: out of shape .* overlaps input"):
            mod.reduce("sum", x, x, 4, 1, 1)
        with pytest.raises(ValueError, match="ember.softmax: out of shape .* overlaps input"):
            mod.softmax(x, x, False)


def test_cpu_tensors_rejected():
    a, b = cpu(z(3)), cpu(z(1))
    with pytest.raises(ValueError, match="ember.sum: input is on cpu, expected cuda"):
        C.reduce("sum", a, b, 1, 3, 1)
    with pytest.raises(ValueError, match="ember.layer_norm: input is on cpu, expected cuda"):
        C.layer_norm_forward(a, 3, None, None, a, b, b, 1e-5)
    with pytest.raises(ValueError, match="ember.cross_entropy: input is on cpu, expected cuda"):
        C.cross_entropy_forward(cpu(z((1, 3))), cpu(z(1, np.int64)), b, cpu(z((1, 3))), -1, 0.0)


@no_gpu
def test_valid_calls_reach_the_device_check():
    t = _mk("cuda")
    calls = [
        ("reduce", ("sum", t(z((3, 4))), t(z(3)), 3, 4, 1)),
        ("reduce_arg", ("max", t(z((3, 4))), t(z(3)), t(z(3, np.int64)), 3, 4, 1)),
        ("softmax", (t(z((3, 4))), t(z((3, 4))), True)),
        ("softmax_backward", (t(z(4)), t(z(4)), t(z(4)), False)),
        ("layer_norm_forward", (t(z(6)), 3, t(z(3)), t(z(3)), t(z(6)), t(z(2)), t(z(2)), 1e-5)),
        ("rms_norm_forward", (t(z(6, BF)), 3, t(z(3)), t(z(6, BF)), t(z(2)), 1e-5)),
        ("layer_norm_backward", (t(z(6)), t(z(6)), 3, None, t(z(2)), t(z(2)), t(z(6)), None, None)),
        ("rms_norm_backward", (t(z(6)), t(z(6)), 3, t(z(3)), t(z(2)), None, t(z(3)))),
        ("cross_entropy_forward", (t(z((2, 3))), t(z(2, np.int32)), t(z(2)), t(z((2, 3))), 0, 0.1)),
        ("cross_entropy_backward", (t(z((2, 3))), t(z(2)), t(z((2, 3))), 0.5)),
    ]
    for name, args in calls:
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            getattr(C, name)(*args)


# ---------------------------------------------------------------- with a GPU

NP = {F32: np.float32, F64: np.float64}
I32, I64 = 2, 3


class Side:
    """One side of a comparison: the CPU (ember._C) or the GPU (ember._C_cuda). put()
    turns numpy arrays into its tensors (None stays None), new() makes outputs and
    remembers them for outputs()."""

    def __init__(self, gpu):
        self.mod = C if gpu else _C
        self.gpu = gpu
        self.made = []

    def put(self, a):
        if a is None:
            return None
        return upload(a) if self.gpu else cpu(a)

    def new(self, shape, code):
        t = C.empty(list(shape), code) if self.gpu else _C.TensorImpl.empty(list(shape), code)
        self.made.append(t)
        return t

    def outputs(self):
        """The outputs as numpy; bfloat16 widened to float32."""
        out = [download(t) if self.gpu else to_numpy(t) for t in self.made]
        return [bf16_to_f32(a) if a.dtype == np.uint16 else a for a in out]


def on_both(call):
    """call(side) on the CPU and on the GPU: ((cpu return, cpu outputs), (gpu ...))."""
    res = []
    for gpu in (False, True):
        side = Side(gpu)
        r = call(side)
        res.append((r, side.outputs()))
    return res


def bf16_bits(rng, shape, scale=3.0):
    x = rng.standard_normal(shape).astype(np.float32) * scale
    return (x.view(np.uint32) >> 16).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def reduce_call(op, x, code, outer, r, inner):
    return lambda s: s.mod.reduce(op, s.put(x), s.new((outer, inner), code), outer, r, inner)


REDUCE_SHAPES = [
    (1, 1, 1),
    (3, 1, 1),
    (7, 33, 1),
    (2, 1025, 1),
    (1, 100003, 1),
    (3, 5, 2),
    (2, 257, 3),
    (5, 3000, 33),
    (1, 70001, 2),
    (4, 0, 3),
    (1, 2**17 + 3, 1),
]


class TestReduceGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", REDUCE_SHAPES)
    @pytest.mark.parametrize("op", ["sum", "mean", "prod", "max", "min"])
    @pytest.mark.parametrize("code", [F32, F64])
    def test_float(self, rng, shape, op, code):
        outer, r, inner = shape
        if r == 0 and op in ("max", "min"):
            pytest.skip("rejected for an empty axis")
        x = rng.standard_normal(shape).astype(NP[code])
        if op == "prod":
            x = (1 + 0.01 * x).astype(NP[code])
        (_, (want,)), (_, (got,)) = on_both(reduce_call(op, x, code, *shape))
        if op in ("max", "min"):
            np.testing.assert_array_equal(got, want)
            return
        eps = 1e-6 if code == F32 else 1e-14
        if op == "prod":
            np.testing.assert_allclose(got, want, rtol=eps * 256)
            return
        # sums: the error bound scales with sum |x|, not with the (cancelling) result
        bound = eps * 16 * (np.abs(x).sum(axis=1) + 1e-30)
        if op == "mean":
            bound = bound / max(r, 1)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # r == 0: mean is NaN
        err = np.where(np.isnan(want), 0.0, np.abs(got - want))  # NaN - NaN is no error
        np.testing.assert_array_less(err - bound, 1e-30)

    @pytest.mark.parametrize("shape", REDUCE_SHAPES)
    @pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
    @pytest.mark.parametrize("code", [I32, I64])
    def test_int_wraps_like_cpu(self, rng, shape, op, code):
        if shape[1] == 0 and op in ("max", "min"):
            pytest.skip("rejected for an empty axis")
        dt = np.int32 if code == I32 else np.int64
        info = np.iinfo(dt)
        x = rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
        (_, (want,)), (_, (got,)) = on_both(reduce_call(op, x, code, *shape))
        np.testing.assert_array_equal(got, want)

    @pytest.mark.parametrize("shape", [s for s in REDUCE_SHAPES if s[1] > 0])
    @pytest.mark.parametrize("op", ["max", "min"])
    def test_bool_any_all(self, rng, shape, op):
        x = rng.random(shape) < (0.98 if op == "min" else 0.02)
        (_, (want,)), (_, (got,)) = on_both(reduce_call(op, x, 0, *shape))
        np.testing.assert_array_equal(got, want)

    def test_nan_propagates(self):
        x = np.arange(40, dtype=np.float32).reshape(2, 20, 1)
        x[0, 7] = np.nan
        for op in ("max", "min", "sum"):
            (_, (got,)) = on_both(reduce_call(op, x, F32, 2, 20, 1))[1]
            assert np.isnan(got[0, 0]) and not np.isnan(got[1, 0])

    @pytest.mark.parametrize("shape", [s for s in REDUCE_SHAPES if s[1] > 0])
    @pytest.mark.parametrize("op", ["max", "min"])
    @pytest.mark.parametrize("code", [F32, F64, I32, I64])
    def test_arg(self, rng, shape, op, code):
        outer, r, inner = shape
        dt = {F32: np.float32, F64: np.float64, I32: np.int32, I64: np.int64}[code]
        x = rng.integers(-5, 6, shape).astype(dt)  # ties everywhere: the first must win
        if code in (F32, F64) and r > 3:
            x[:, r // 2, :] = np.nan
            x[:, r - 1, :] = np.nan

        def call(s):
            s.mod.reduce_arg(
                op, s.put(x), s.new((outer, inner), code), s.new((outer, inner), I64), *shape
            )

        (_, want), (_, got) = on_both(call)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])

    def test_repeated_runs_are_bitwise_equal(self, rng):
        n = 2**20 + 7
        x = upload(rng.standard_normal((3, n)).astype(np.float32))
        outs = []
        for _ in range(3):
            o = C.empty([3], F32)
            C.reduce("sum", x, o, 3, n, 1)
            outs.append(download(o))
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_array_equal(outs[0], outs[2])


SOFTMAX_SHAPES = [(1,), (3, 1), (5, 33), (2, 1025), (3, 50001), (4, 3, 7)]


class TestSoftmaxGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
    @pytest.mark.parametrize("log", [False, True])
    @pytest.mark.parametrize("code", [F32, F64])
    def test_forward_backward(self, rng, shape, log, code):
        x = (rng.standard_normal(shape) * 8).astype(NP[code])
        if x.size > 4:
            x.reshape(-1)[3] = -np.inf
        (_, (want,)), (_, (got,)) = on_both(
            lambda s: s.mod.softmax(s.put(x), s.new(shape, code), log)
        )
        tol = {"rtol": 2e-5, "atol": 1e-6} if code == F32 else {"rtol": 1e-12, "atol": 1e-14}
        np.testing.assert_allclose(got, want, **tol)
        g = rng.standard_normal(shape).astype(NP[code])
        (_, (want_g,)), (_, (got_g,)) = on_both(
            lambda s: s.mod.softmax_backward(s.put(want), s.put(g), s.new(shape, code), log)
        )
        np.testing.assert_allclose(got_g, want_g, **tol)

    def test_special_rows(self):
        x = np.array(
            [[-np.inf] * 4, [1, np.nan, 2, 3], [np.inf, 0, 1, 2], [0, 1, 2, 3]], np.float32
        )
        (_, (want,)), (_, (got,)) = on_both(
            lambda s: s.mod.softmax(s.put(x), s.new(x.shape, F32), False)
        )
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[3], want[3], rtol=2e-6)


NORM_SHAPES = [(1, 1), (3, 7), (5, 33), (4, 768), (2, 1025), (3, 20001), (300, 96)]


class TestNormGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", NORM_SHAPES)
    @pytest.mark.parametrize("code", [F32, F64, BF16])
    @pytest.mark.parametrize("affine", [False, True])
    @pytest.mark.parametrize("rms", [False, True])
    def test_forward_backward(self, rng, shape, code, affine, rms):
        rows, n = shape
        if code == BF16:  # float32 weights and statistics (mixed precision)
            x, g = bf16_bits(rng, shape), bf16_bits(rng, shape, 1.0)
            pdt, pcode, scode = np.float32, F32, F32
            rtol, atol = 2e-2, 2e-2
        else:
            x = (rng.standard_normal(shape) * 3 + 5).astype(NP[code])
            g = rng.standard_normal(shape).astype(NP[code])
            pdt, pcode, scode = NP[code], code, code
            rtol, atol = (1e-4, 1e-5) if code == F32 else (1e-11, 1e-12)
        w = (1 + 0.1 * rng.standard_normal(n)).astype(pdt) if affine else None
        b = (0.1 * rng.standard_normal(n)).astype(pdt) if affine else None

        def forward(s):
            y, rstd = s.new(shape, code), s.new((rows,), scode)
            if rms:
                s.mod.rms_norm_forward(s.put(x), n, s.put(w), y, rstd, 1e-5)
            else:
                mean = s.new((rows,), scode)
                s.mod.layer_norm_forward(s.put(x), n, s.put(w), s.put(b), y, mean, rstd, 1e-5)

        (_, want), (_, got) = on_both(forward)
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)

        # backward, from the CPU's statistics
        stats = [a.astype(np.float64 if scode == F64 else np.float32) for a in want[1:]]

        def backward(s):
            gx = s.new(shape, code)
            gw = s.new((n,), pcode) if affine else None
            args = [s.put(g), s.put(x), n, s.put(w)] + [s.put(a) for a in stats]
            if rms:
                s.mod.rms_norm_backward(*args, gx, gw)
            else:
                gb = s.new((n,), pcode) if affine else None
                s.mod.layer_norm_backward(*args, gx, gw, gb)

        (_, want), (_, got) = on_both(backward)
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * (np.abs(e).max() + 1))


class TestCrossEntropyGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 1000), (64, 50257), (257, 10)])
    @pytest.mark.parametrize("code", [F32, F64, BF16])
    @pytest.mark.parametrize("eps", [0.0, 0.1])
    @pytest.mark.parametrize("tdt", [np.int64, np.int32])
    def test_forward_backward(self, rng, shape, code, eps, tdt):
        N, classes = shape
        if code == BF16:
            x = bf16_bits(rng, shape)
        else:
            x = (rng.standard_normal(shape) * 4).astype(NP[code])
        t = rng.integers(0, classes, N).astype(tdt)
        t[::3] = -100  # ignored rows
        scode = F64 if code == F64 else F32

        def forward(s):
            losses, d = s.new((N,), scode), s.new(shape, code)
            return s.mod.cross_entropy_forward(s.put(x), s.put(t), losses, d, -100, eps)

        (rc, want), (rg, got) = on_both(forward)
        tol = {F32: 1e-5, F64: 1e-12, BF16: 1e-2}[code]
        assert rg[0] == rc[0]
        assert rg[1] == pytest.approx(rc[1], rel=tol, abs=tol)
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol)

        dlogits = want[1].astype(np.float64 if code == F64 else np.float32)
        if code == BF16:
            dlogits = (dlogits.view(np.uint32) >> 16).astype(np.uint16)
        for gshape in ((1,), (N,)):
            grad = rng.standard_normal(gshape).astype(np.float64 if code == F64 else np.float32)
            (_, want_g), (_, got_g) = on_both(
                lambda s, grad=grad: s.mod.cross_entropy_backward(
                    s.put(dlogits), s.put(grad), s.new(shape, code), 0.5
                )
            )
            np.testing.assert_array_equal(got_g[0], want_g[0])  # one rounding, as on the CPU

    def test_bad_target_raises_like_cpu(self):
        x = np.zeros((4, 5), np.float32)
        t = np.array([1, -100, 7, 2], np.int64)
        for gpu in (False, True):
            s = Side(gpu)
            with pytest.raises(
                IndexError,
                match="ember.cross_entropy: target 7 at position 2 is out of range for 5 classes",
            ):
                s.mod.cross_entropy_forward(
                    s.put(x), s.put(t), s.new((4,), F32), s.new((4, 5), F32), -100, 0.0
                )

    def test_far_out_of_range_target_reads_nothing_outside_the_logits(self, rng):
        # The forward runs before the host sees the scan: a bad row must be computed as
        # ignored (no read at x[row, t]), and the device must stay usable after the raise.
        s = Side(True)
        x = rng.standard_normal((3, 5)).astype(np.float32)
        for bad in (2**40, -(2**40), 5, -1):
            t = np.array([1, bad, 2], np.int64)
            with pytest.raises(IndexError, match=f"target {bad} at position 1 is out of range"):
                s.mod.cross_entropy_forward(
                    s.put(x), s.put(t), s.new((3,), F32), s.new((3, 5), F32), -100, 0.0
                )
        good = np.array([1, 4, 2], np.int64)
        (rc, _), (rg, _) = on_both(
            lambda side: side.mod.cross_entropy_forward(
                side.put(x), side.put(good), side.new((3,), F32), side.new((3, 5), F32), -100, 0.0
            )
        )
        assert rg[0] == rc[0] == 3
        assert rg[1] == pytest.approx(rc[1], rel=1e-5)


class TestEndToEndGPU:
    pytestmark = GPU

    def test_tensor_ops_on_cuda(self, rng):
        a = rng.standard_normal((37, 129)).astype(np.float32)
        x = ember.tensor(a).cuda()
        np.testing.assert_allclose(x.sum(1).cpu().numpy(), a.sum(1), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(x.mean(0).cpu().numpy(), a.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(x.argmax(1).cpu().numpy(), a.argmax(1))
        sm = ember.softmax(x, 1).cpu().numpy()
        e = np.exp(a - a.max(1, keepdims=True))
        np.testing.assert_allclose(sm, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
        t = ember.tensor(rng.integers(0, 129, 37))
        xg = ember.tensor(a, device="cuda", requires_grad=True)
        loss = ember.nn.functional.cross_entropy(xg, t.cuda())
        loss.backward()
        xc = ember.tensor(a, requires_grad=True)
        lc = ember.nn.functional.cross_entropy(xc, t)
        lc.backward()
        assert loss.item() == pytest.approx(lc.item(), rel=1e-5)
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-5, atol=1e-7)
        ln = ember.nn.LayerNorm(129)
        want = ln(ember.tensor(a)).detach().numpy()
        got = ln.to("cuda")(x).detach().cpu().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
