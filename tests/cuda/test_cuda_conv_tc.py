"""ember._C_cuda conv2d for bfloat16 / float16 on tensor cores (csrc/cuda/conv/conv_tc.h).

Without a GPU: the kernel's own gathers (every block's loads, as its threads make them)
against a numpy im2col on awkward shapes, the output mapping, the plans, the whole GEMM
formulation (chunks included) replayed in numpy against ember's CPU conv, and the argument
checks with fake CUDA tensors. With a GPU (`-m cuda`): every pass against ember's CPU
float32 conv on the same rounded inputs, with 16-bit tolerances relative to max |y|, and the
Python API (own dtype, autocast).
"""

import ember._C as _C
import numpy as np
import pytest
from test_cuda import BF16, F16, GPU, HAS_GPU, cpu, download, fake_cuda, upload
from test_cuda_conv import CONV_SHAPES, PASSES, PLAN_SHAPES, conv_args, reference_tables

try:
    import ember._C_cuda as C
except ImportError:
    C = None

pytestmark = pytest.mark.skipif(C is None, reason="ember._C_cuda was not built")
no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")

TC_SHAPES = CONV_SHAPES + [
    ((1, 1, 1, 1), (1, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # all ones
    ((2, 3, 4, 5), (5, 2, 3), (1, 2), (3, 4), (1, 1), 1),  # padding bigger than the kernel
    ((1, 5, 11, 13), (7, 3, 3), (3, 2), (2, 3), (2, 3), 1),  # primes, strides, dilation
    ((3, 6, 7, 7), (9, 2, 2), (2, 2), (3, 1), (3, 2), 3),  # groups, big padding, dilation
    ((2, 3, 9, 9), (70, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # N = 70: the 128-wide tile
    ((3, 7, 9, 8), (5, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # M = 216: two row tiles
]


def tc_reference(pass_, shape):
    """The tensor-core GEMM's A (M x R), B (N x R) and C (M x N) offsets per group, from the
    numpy tables of the SIMT view (A: M' x R, B: R x N', C: M' x N'): A = B'^T, B = A',
    C = C'^T."""
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    a, b, c = reference_tables(pass_, xs, ws, ys, stride, padding, dilation, groups)
    return b.transpose(0, 2, 1), a, c.transpose(0, 2, 1)


@pytest.mark.parametrize("shape", TC_SHAPES)
@pytest.mark.parametrize("pass_", PASSES)
def test_gathers_match_numpy_im2col(shape, pass_):
    xs, ws, _, stride, padding, dilation, groups = conv_args(shape)
    got = C._conv_tc_gather(pass_, xs, ws, stride, padding, dilation, groups)
    plan = C._conv_tc_plan(pass_, xs, ws, stride, padding, dilation, groups)
    want_a, want_b, want_c = tc_reference(pass_, shape)
    m, n, r = plan["m"], plan["n"], plan["r"]
    assert want_a.shape == (groups, m, r) and want_b.shape == (groups, n, r)
    for key, want in (("a", want_a), ("b", want_b)):
        t = np.array(got[key]).reshape(got[f"shape_{key}"])
        rows = want.shape[1]
        tile_rows = plan["tile"][0] if key == "a" else plan["tile"][1]
        assert t.shape[1] == (plan["tiles_m"] if key == "a" else plan["tiles_n"]) * tile_rows
        np.testing.assert_array_equal(t[:, :rows, :r], want)
        # Tails: every step < R of every tile row is loaded (no stale shared memory), as a
        # zero past the GEMM's rows; steps past R are zeros or not loaded (-2), never read.
        assert (t[:, rows:, :r] == -1).all() and np.isin(t[:, :, r:], (-1, -2)).all()
    c_row = np.array(got["c_row"]).reshape(groups, m)
    c = c_row[:, :, None] + np.arange(n) * got["c_col_stride"]
    np.testing.assert_array_equal(c, want_c)


@pytest.mark.parametrize("shape", PLAN_SHAPES + TC_SHAPES[len(CONV_SHAPES) :])
@pytest.mark.parametrize("pass_", PASSES)
def test_plans_cover_the_gemm(shape, pass_):
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    p = C._conv_tc_plan(pass_, xs, ws, stride, padding, dilation, groups)
    n, c, h, w = xs
    k, cg, kh, kw = ws
    want = {
        "forward": (n * ys[2] * ys[3], k // groups, cg * kh * kw),
        "backward_input": (n * h * w, cg, k // groups * kh * kw),
        "backward_weight": (cg * kh * kw, k // groups, n * ys[2] * ys[3]),
    }[pass_]
    assert (p["m"], p["n"], p["r"]) == want
    bm, bn, bk = p["tile"]
    assert (bm, bk) == (128, 32) and bn == (64 if p["n"] <= 64 else 128)
    assert p["threads"] == 2 * bn  # 2 x bn / 32 warps of 64 x 32
    assert (p["tiles_m"] - 1) * bm < p["m"] <= p["tiles_m"] * bm
    assert (p["tiles_n"] - 1) * bn < p["n"] <= p["tiles_n"] * bn
    assert p["chunk"] % bk == 0 and p["chunk"] > 0
    assert (p["splits"] - 1) * p["chunk"] < max(p["r"], 1) <= p["splits"] * p["chunk"]
    if pass_ != "backward_weight" or p["r"] <= 512:
        assert p["splits"] == 1
    assert 1 <= p["splits"] <= 64
    assert p["grid"] == (p["tiles_m"], p["tiles_n"] * groups * p["splits"])
    groups_mn = groups * p["m"] * p["n"]
    assert p["workspace"] == (p["splits"] * groups_mn if pass_ == "backward_weight" else 0)
    assert p["smem_bytes"] == 2 * (bm + bn) * bk * 2 <= 48 * 1024  # static shared memory


def test_long_grad_weight_reductions_are_split():
    xs, ws, _, stride, padding, dilation, groups = conv_args(PLAN_SHAPES[7])
    p = C._conv_tc_plan("backward_weight", xs, ws, stride, padding, dilation, groups)
    assert p["splits"] > 1 and p["grid"][0] * p["grid"][1] >= 256


def replay(pass_, geo, xs, ws, a, b, out_shape):
    """The kernels in numpy (float64): per group and chunk, C += A_chunk B_chunk^T through the
    gather tables, chunks summed in order, written through the output mapping."""
    t = C._conv_tc_gather(pass_, xs, ws, *geo)
    p = C._conv_tc_plan(pass_, xs, ws, *geo)
    groups, m, n = geo[3], p["m"], p["n"]
    ta, tb = np.array(t["a"]).reshape(t["shape_a"]), np.array(t["b"]).reshape(t["shape_b"])
    av = np.where(ta >= 0, a.ravel()[np.maximum(ta, 0)], 0.0)[:, :m]
    bv = np.where(tb >= 0, b.ravel()[np.maximum(tb, 0)], 0.0)[:, :n]
    acc = np.zeros((groups, m, n))
    for s in range(p["splits"]):
        part = slice(s * p["chunk"], (s + 1) * p["chunk"])
        acc += av[:, :, part] @ bv[:, :, part].transpose(0, 2, 1)
    c_row = np.array(t["c_row"]).reshape(groups, m)
    idx = c_row[:, :, None] + np.arange(n) * t["c_col_stride"]
    out = np.full(int(np.prod(out_shape)), np.nan)
    out[idx.ravel()] = acc.ravel()
    assert np.unique(idx).size == idx.size == out.size  # every output written once
    return out.reshape(out_shape)


@pytest.mark.parametrize(
    "shape",
    TC_SHAPES[-4:] + [((3, 4, 21, 23), (6, 3, 3), (1, 1), (1, 1), (1, 1), 2)],  # split chunks
)
def test_gemm_formulation_matches_cpu_conv(shape, rng):
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    geo = (stride, padding, dilation, groups)
    x, w, gy = (rng.standard_normal(s) for s in (xs, ws, ys))
    for pass_, (a, b), out_shape, cpu_fn, args in (
        ("forward", (x, w), ys, _C.conv2d_forward, (x, w)),
        ("backward_input", (gy, w), xs, _C.conv2d_backward_input, (gy, w)),
        ("backward_weight", (x, gy), ws, _C.conv2d_backward_weight, (gy, x)),
    ):
        want = np.empty(out_shape)
        if pass_ == "forward":
            cpu_fn(cpu(args[0]), cpu(args[1]), None, cpu(want), *geo)
        else:
            cpu_fn(cpu(args[0]), cpu(args[1]), cpu(want), *geo)
        got = replay(pass_, geo, xs, ws, a, b, out_shape)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    p = C._conv_tc_plan("backward_weight", xs, ws, *geo)
    if shape[0] == (3, 4, 21, 23):
        assert p["splits"] > 1


# ------------------------------------------------------ argument checks (fake CUDA)


def bf16_bits(a):
    """float -> bfloat16 bit patterns (round to nearest even), as uint16."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_float(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def fake(shape, code):
    a = np.zeros(shape, np.uint16 if code == BF16 else np.float16)
    return fake_cuda(a)


GEO = ((1, 1), (0, 0), (1, 1), 1)


@no_gpu
@pytest.mark.parametrize("code", [BF16, F16])
def test_16bit_calls_reach_the_device_check(code):
    x, w, y, b = (fake(s, code) for s in ((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 3, 3), (4,)))
    for call in (
        lambda: C.conv2d_forward(x, w, b, y, *GEO, "relu"),
        lambda: C.conv2d_backward_input(y, w, x, *GEO),
        lambda: C.conv2d_backward_weight(y, x, w, *GEO),
    ):
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            call()


def test_16bit_dtype_errors():
    x, y = fake((2, 3, 5, 5), BF16), fake((2, 4, 3, 3), BF16)
    w16, b16 = fake((4, 3, 3, 3), F16), fake((4,), F16)
    w = fake((4, 3, 3, 3), BF16)
    with pytest.raises(TypeError, match="conv2d: weight has dtype float16, expected bfloat16"):
        C.conv2d_forward(x, w16, None, y, *GEO)
    with pytest.raises(TypeError, match="conv2d: bias has dtype float16, expected bfloat16"):
        C.conv2d_forward(x, w, b16, y, *GEO)
    with pytest.raises(TypeError, match="grad_output has dtype bfloat16, expected float16"):
        C.conv2d_backward_weight(y, fake((2, 3, 5, 5), F16), w16, *GEO)
    xi = fake_cuda(np.zeros((2, 3, 5, 5), np.int32))
    msg = "input has dtype int32, expected float32, float64, bfloat16 or float16"
    with pytest.raises(TypeError, match=msg):
        C.conv2d_forward(xi, w, None, y, *GEO)
    with pytest.raises(TypeError):  # the CPU raises the same type
        xc, wc, yc = (np.zeros(s) for s in ((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 3, 3)))
        _C.conv2d_forward(cpu(xc.astype(np.int32)), cpu(wc), None, cpu(yc), *GEO)
    # Shapes are checked as for float32 (the shared geometry checks).
    with pytest.raises(ValueError, match="ember.conv2d"):
        C.conv2d_forward(x, fake((4, 2, 3, 3), BF16), None, y, *GEO)
    with pytest.raises(ValueError, match="ember.conv2d.*65535"):
        C._conv_tc_plan("forward", [1, 70000, 3, 3], [70000, 1, 1, 1], *GEO[:3], 70000)


# ------------------------------------------------------------------------ with a GPU

# Relative to max |y|: the output rounding (bf16 8 bits, fp16 11) plus float32 sums.
TC_TOL = {BF16: 1e-2, F16: 2e-3}
GPU_TC_SHAPES = TC_SHAPES + [
    ((3, 37, 17, 19), (67, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # tails in M, N, R
    ((2, 16, 33, 31), (24, 5, 3), (2, 1), (2, 1), (1, 2), 4),
    ((4, 64, 28, 28), (96, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # split grad weight
    ((1, 130, 9, 9), (130, 3, 3), (2, 2), (1, 1), (1, 1), 130),  # depthwise
    ((2, 24, 19, 23), (160, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # two column tiles
    ((4, 130, 20, 20), (136, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 30, 30), (64, 7, 7), (2, 2), (3, 3), (1, 1), 1),  # a stem
]


def rounded(rng, shape, code):
    """Random values rounded to the 16-bit dtype: (device array, the same as float32)."""
    v = rng.standard_normal(shape).astype(np.float32)
    if code == BF16:
        bits = bf16_bits(v)
        return bits, bf16_float(bits)
    h = v.astype(np.float16)
    return h, h.astype(np.float32)


def as_float(a):
    return bf16_float(a) if a.dtype == np.uint16 else a.astype(np.float32)


def assert_close(got, want, code):
    scale = np.abs(want).max() + 1e-30
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=TC_TOL[code])


class TestConvTcGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", GPU_TC_SHAPES)
    @pytest.mark.parametrize("code", [BF16, F16])
    def test_passes_match_cpu_float32(self, shape, code, rng):
        xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
        geo = (stride, padding, dilation, groups)
        (x, xf), (w, wf), (gy, gyf), (b, bf) = (
            rounded(rng, s, code) for s in (xs, ws, ys, (ws[0],))
        )
        for act in ("none", "relu"):
            want = np.empty(ys, np.float32)
            _C.conv2d_forward(cpu(xf), cpu(wf), cpu(bf), cpu(want), *geo, act)
            dt = np.uint16 if code == BF16 else np.float16
            out = upload(np.full(ys, 0xFFFF, dt))  # NaN bits in both dtypes
            C.conv2d_forward(upload(x), upload(w), upload(b), out, *geo, act)
            assert_close(as_float(download(out)), want, code)
        cases = [
            (_C.conv2d_backward_input, C.conv2d_backward_input, (gy, w), (gyf, wf), xs),
            (_C.conv2d_backward_weight, C.conv2d_backward_weight, (gy, x), (gyf, xf), ws),
        ]
        for cpu_fn, cuda_fn, dev_in, f32_in, shape_out in cases:
            want = np.empty(shape_out, np.float32)
            cpu_fn(cpu(f32_in[0]), cpu(f32_in[1]), cpu(want), *geo)
            out = upload(np.zeros(shape_out, dt))
            cuda_fn(upload(dev_in[0]), upload(dev_in[1]), out, *geo)
            got = download(out)
            assert_close(as_float(got), want, code)
            again = upload(np.zeros(shape_out, dt))
            cuda_fn(upload(dev_in[0]), upload(dev_in[1]), again, *geo)
            np.testing.assert_array_equal(download(again), got)  # deterministic

    def test_empty_batch_and_zero_reduction(self):
        xs, ws, ys = [0, 3, 5, 5], [4, 3, 3, 3], [0, 4, 3, 3]
        gw = upload(np.full(ws, 0x7FC0, np.uint16))  # NaN bits
        zeros = [upload(np.zeros(s, np.uint16)) for s in (xs, ws, ys)]
        C.conv2d_backward_weight(zeros[2], zeros[0], gw, *GEO)
        np.testing.assert_array_equal(download(gw), 0)
        C.conv2d_forward(zeros[0], zeros[1], None, zeros[2], *GEO)  # nothing to compute

    @pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
    def test_python_api_runs_in_its_dtype(self, dtype_name, rng):
        import ember
        import ember.nn.functional as F

        dt = getattr(ember, dtype_name)
        x = rng.standard_normal((2, 5, 9, 8)).astype(np.float32)
        w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
        b = rng.standard_normal(6).astype(np.float32)
        res = []
        for dev in ("cpu", "cuda"):
            xt = ember.tensor(x, device=dev).to(dt).requires_grad_()
            wt = ember.tensor(w, device=dev).to(dt).requires_grad_()
            bt = ember.tensor(b, device=dev).to(dt).requires_grad_()
            y = F.conv2d(xt, wt, bt, stride=2, padding=1, activation="relu")
            assert y.dtype == dt
            y.backward(ember.ones_like(y))
            assert xt.grad.dtype == wt.grad.dtype == bt.grad.dtype == dt
            res.append([t.detach().float().cpu().numpy() for t in (y, xt.grad, wt.grad, bt.grad)])
        for want, got in zip(*res):
            scale = np.abs(want).max()
            np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=2e-2)

    def test_autocast_casts_conv_on_cuda(self, rng):
        import ember
        import ember.nn.functional as F

        x = ember.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), device="cuda")
        w = ember.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), device="cuda")
        w.requires_grad_()
        with ember.autocast("cuda", dtype=ember.bfloat16):
            y = F.conv2d(x, w, padding=1)
        assert y.dtype == ember.bfloat16
        y.float().sum().backward()
        assert w.grad.dtype == ember.float32
        want = F.conv2d(x.cpu(), w.detach().cpu(), padding=1).numpy()
        scale = np.abs(want).max()
        np.testing.assert_allclose(
            y.detach().float().cpu().numpy() / scale, want / scale, atol=2e-2
        )
