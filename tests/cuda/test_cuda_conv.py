"""ember._C_cuda conv2d (implicit GEMM), pooling and batch norm.

Without a GPU: the kernels' index math (implicit-GEMM gather offsets, tile plans, pooling
windows, chunked batch-norm statistics) through the host test hooks, checked against numpy
im2col / brute force, and the GEMM formulation of every pass replayed in numpy against
ember's CPU kernels; every argument check driven with fake CUDA tensors (same errors as the
CPU bindings, raised before any memory is touched). With a GPU (`-m cuda`): every kernel
against ember's CPU kernel on the same inputs.
"""

import ember._C as _C
import numpy as np
import pytest
from test_cuda import GPU, HAS_GPU, cpu, download, fake_cuda, upload

try:
    import ember._C_cuda as C
except ImportError:
    C = None

pytestmark = pytest.mark.skipif(C is None, reason="ember._C_cuda was not built")
no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
F32, F64, I64 = 6, 7, 3
PASSES = ["forward", "backward_input", "backward_weight"]

# (n, c, h, w), (k, kh, kw), stride, padding, dilation, groups: awkward on purpose
CONV_SHAPES = [
    ((2, 3, 7, 5), (4, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 4, 9, 11), (6, 3, 2), (2, 3), (1, 0), (1, 1), 2),
    ((3, 2, 8, 8), (5, 3, 3), (3, 2), (2, 1), (2, 1), 1),
    ((2, 6, 6, 7), (6, 3, 3), (2, 2), (1, 1), (1, 2), 6),  # depthwise
    ((2, 5, 5, 3), (7, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
    ((1, 3, 13, 1), (2, 4, 1), (3, 1), (2, 0), (1, 1), 1),  # a column
    ((1, 4, 5, 5), (4, 5, 5), (1, 1), (0, 0), (1, 1), 2),  # kernel = input
]


def conv_args(shape):
    xs, (k, kh, kw), stride, padding, dilation, groups = shape
    ws = (k, xs[1] // groups, kh, kw)
    out = _C.conv_output_shape(
        "t", list(xs), list(ws), list(stride), list(padding), list(dilation), groups
    )
    return list(xs), list(ws), list(out), stride, padding, dilation, groups


def im2col_offsets(xs, ws, stride, padding, dilation, groups):
    """numpy im2col of an image holding its own flat offsets (-1: padding): per group,
    rows (channel, tap), columns (image, output pixel)."""
    n, c, h, w = xs
    k, cg, kh, kw = ws
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    img = np.pad(
        np.arange(n * c * h * w).reshape(xs),
        ((0, 0), (0, 0), (ph, ph), (pw, pw)),
        constant_values=-1,
    )
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((c, kh, kw, n, oh, ow), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = img[
                :,
                :,
                i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                j * dw : j * dw + sw * (ow - 1) + 1 : sw,
            ]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(groups, cg * kh * kw, n * oh * ow)


def reference_tables(pass_, xs, ws, ys, stride, padding, dilation, groups):
    """The A, B, C offsets of each pass, built from the numpy im2col (independent of the
    kernels' arithmetic), per group."""
    n, c, h, w = xs
    k, cg, kh, kw = ws
    kg, taps, opix = k // groups, kh * kw, ys[2] * ys[3]
    cols = im2col_offsets(xs, ws, stride, padding, dilation, groups)
    w_off = np.arange(k * cg * taps).reshape(groups, kg, cg * taps)
    y_off = np.arange(n * k * opix).reshape(n, groups, kg, opix).transpose(1, 2, 0, 3)
    y_off = y_off.reshape(groups, kg, n * opix)
    if pass_ == "forward":
        return w_off, cols, y_off
    if pass_ == "backward_weight":
        return y_off, cols.transpose(0, 2, 1), w_off
    # backward_input: B[(kk, tap), (image, input pixel)] = the grad-output entry that read
    # that input pixel through that tap in the forward im2col.
    a = w_off.reshape(groups, kg, cg, taps).transpose(0, 2, 1, 3).reshape(groups, cg, kg * taps)
    b = np.full((groups, kg, taps, n * h * w), -1, np.int64)
    x_off = np.arange(n * c * h * w).reshape(n, groups, cg, h * w)
    for g in range(groups):
        cg_cols = cols[g].reshape(cg, taps, n, opix)
        for t in range(taps):
            for img in range(n):
                for q in range(opix):
                    xo = cg_cols[0, t, img, q]
                    if xo < 0:
                        continue
                    pix = img * h * w + (xo - x_off[img, g, 0, 0]) % (h * w)
                    b[g, :, t, pix] = y_off[g, :, img * opix + q]
    gx = x_off.transpose(1, 2, 0, 3).reshape(groups, cg, n * h * w)
    return a, b.reshape(groups, kg * taps, n * h * w), gx


@pytest.mark.parametrize("shape", CONV_SHAPES)
@pytest.mark.parametrize("pass_", PASSES)
def test_gather_offsets_match_numpy_im2col(shape, pass_):
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    got = C._conv_gather(pass_, xs, ws, stride, padding, dilation, groups)
    a, b, c = reference_tables(pass_, xs, ws, ys, stride, padding, dilation, groups)
    np.testing.assert_array_equal(np.array(got["a"]).reshape(a.shape), a)
    np.testing.assert_array_equal(np.array(got["b"]).reshape(b.shape), b)
    np.testing.assert_array_equal(np.array(got["c"]).reshape(c.shape), c)


def replay(pass_, xs, ws, geo, a, b, out_shape):
    """The kernel's GEMM in numpy: C = A @ B per group through the gather offsets."""
    table, plan = C._conv_gather(pass_, xs, ws, *geo), C._conv_plan(pass_, xs, ws, *geo)
    groups, m, n, r = geo[3], plan["m"], plan["n"], plan["r"]
    ta, tb, tc = (np.array(table[k]) for k in "abc")
    assert ta.size == groups * m * r and tb.size == groups * r * n
    av = a.ravel()[ta].reshape(groups, m, r)
    bv = np.where(tb >= 0, b.ravel()[np.maximum(tb, 0)], 0.0).reshape(groups, r, n)
    out = np.full(int(np.prod(out_shape)), np.nan)
    out[tc] = (av @ bv).ravel()
    assert np.unique(tc).size == tc.size == out.size  # every output written once
    return out.reshape(out_shape)


@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_gemm_formulation_matches_cpu_conv(shape, rng):
    """Each pass's GEMM over the gathered operands equals ember's CPU conv (float64)."""
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    x, w, gy = (rng.standard_normal(s) for s in (xs, ws, ys))
    geo = (stride, padding, dilation, groups)
    want = np.empty(ys)
    _C.conv2d_forward(cpu(x), cpu(w), None, cpu(want), *geo)
    got = replay("forward", xs, ws, geo, w, x, ys)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    want = np.empty(xs)
    _C.conv2d_backward_input(cpu(gy), cpu(w), cpu(want), *geo)
    got = replay("backward_input", xs, ws, geo, w, gy, xs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    want = np.empty(ws)
    _C.conv2d_backward_weight(cpu(gy), cpu(x), cpu(want), *geo)
    got = replay("backward_weight", xs, ws, geo, gy, x, ws)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


PLAN_SHAPES = CONV_SHAPES + [
    ((32, 64, 56, 56), (64, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((256, 3, 224, 224), (64, 7, 7), (2, 2), (3, 3), (1, 1), 1),
    ((8, 512, 7, 7), (2048, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((64, 1024, 14, 14), (1024, 3, 3), (1, 1), (1, 1), (1, 1), 1024),
    ((1, 1, 1, 1), (1, 1, 1), (1, 1), (0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("shape", PLAN_SHAPES)
@pytest.mark.parametrize("pass_", PASSES)
def test_plans_cover_the_gemm(shape, pass_):
    xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
    p = C._conv_plan(pass_, xs, ws, stride, padding, dilation, groups)
    bm, bn, bk = p["tile"]
    n, c, h, w = xs
    k, cg, kh, kw = ws
    want = {
        "forward": (k // groups, n * ys[2] * ys[3], cg * kh * kw),
        "backward_input": (cg, n * h * w, k // groups * kh * kw),
        "backward_weight": (k // groups, cg * kh * kw, n * ys[2] * ys[3]),
    }[pass_]
    assert (p["m"], p["n"], p["r"]) == want
    assert (p["tiles_m"] - 1) * bm < p["m"] <= p["tiles_m"] * bm
    assert (p["tiles_n"] - 1) * bn < p["n"] <= p["tiles_n"] * bn
    assert p["chunk"] % bk == 0 and p["chunk"] > 0
    assert (p["splits"] - 1) * p["chunk"] < max(p["r"], 1) <= p["splits"] * p["chunk"]
    assert p["grid"] == (p["tiles_n"], p["tiles_m"] * groups * p["splits"])
    assert p["grid"][1] <= 65535
    if pass_ != "backward_weight" or p["r"] <= 512:
        assert p["splits"] == 1
    assert 1 <= p["splits"] <= 64
    assert p["workspace"] == (p["splits"] * groups * p["m"] * p["n"] if p["splits"] > 1 else 0)
    assert p["smem_bytes"] == bk * (bm + bn) * 4 <= 48 * 1024
    assert p["large"] == (p["m"] >= 128 and p["n"] >= 128)
    tm, tn = p["micro_tile"]
    assert (bm // tm) * (bn // tn) == p["threads"] and bm * bk == bn * bk == 4 * p["threads"]
    d = C._conv_plan(pass_, xs, ws, stride, padding, dilation, groups, elem_size=8)
    assert not d["large"] and d["tile"] == (64, 64, 16)  # float64: the small tile only
    assert d["smem_bytes"] == 16 * (64 + 64) * 8


def test_long_grad_weight_reductions_are_split():
    xs, ws, _, stride, padding, dilation, groups = conv_args(PLAN_SHAPES[7])
    p = C._conv_plan("backward_weight", xs, ws, stride, padding, dilation, groups)
    assert p["splits"] > 1 and p["grid"][0] * p["grid"][1] >= 256


# ------------------------------------------------------------------- pooling windows

POOL_CASES = [  # (h, w), kernel, stride, padding, ceil_mode
    ((7, 5), (3, 2), (2, 2), (1, 1), False),
    ((7, 5), (3, 2), (2, 2), (1, 1), True),
    ((10, 9), (4, 3), (3, 2), (2, 1), True),
    ((1, 6), (1, 3), (1, 3), (0, 1), False),
    ((5, 5), (5, 5), (1, 1), (2, 2), True),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize("divisor", [0, 3])
def test_avg_windows_reproduce_cpu_avg_pool(case, include_pad, divisor, rng):
    (h, w), k, s, p, ceil = case
    xs = [2, 3, h, w]
    ys = _C.pool2d_output_shape("t", xs, k, s, p, (1, 1), ceil)
    wins = np.array(C._pool_avg_windows(xs, k, s, p, ceil, include_pad, divisor))
    wins = wins.reshape(ys[2], ys[3], 5)
    x = rng.standard_normal(xs)
    want = np.empty(ys)
    _C.avg_pool2d(cpu(x), cpu(want), k, s, p, ceil, include_pad, divisor)
    got = np.zeros(ys)
    for o in range(ys[2]):
        for q in range(ys[3]):
            h0, h1, w0, w1, div = wins[o, q]
            assert 0 <= h0 and h1 <= h and 0 <= w0 and w1 <= w and div > 0
            if h0 < h1 and w0 < w1:
                got[:, :, o, q] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    # The backward's cover ranges are exactly the windows holding each input index.
    for dim, (size, out) in enumerate(((h, ys[2]), (w, ys[3]))):
        cover = np.array(C._pool_avg_cover(size, out, k[dim], s[dim], p[dim])).reshape(size, 2)
        lo = wins[:, 0, 0] if dim == 0 else wins[0, :, 2]
        hi = wins[:, 0, 1] if dim == 0 else wins[0, :, 3]
        for i in range(size):
            holding = [o for o in range(out) if lo[o] <= i < hi[o]]
            assert (cover[i, 0], cover[i, 1]) == (
                (holding[0], holding[-1]) if holding else (cover[i, 0], cover[i, 0] - 1)
            ) or (not holding and cover[i, 0] > cover[i, 1])


@pytest.mark.parametrize("size,out", [(7, 3), (3, 7), (5, 5), (1, 4), (13, 1), (10, 4)])
def test_adaptive_cover_is_exact(size, out):
    cover = np.array(C._pool_adaptive_cover(size, out)).reshape(size, 2)
    starts = [(o * size) // out for o in range(out)]
    ends = [-((-(o + 1) * size) // out) for o in range(out)]
    for i in range(size):
        holding = [o for o in range(out) if starts[o] <= i < ends[o]]
        assert (cover[i, 0], cover[i, 1]) == (holding[0], holding[-1])


# --------------------------------------------------------------- batch-norm statistics


@pytest.mark.parametrize("n,s", [(1, 2), (3, 1365), (1, 4097), (7, 3136), (300, 1000), (0, 5)])
def test_bn_plan_and_chunked_moments(n, s, rng):
    p = C._bn_plan(n, s)
    m = n * s
    assert p["m"] == m
    if m == 0:
        assert p["nchunks"] == 0
        return
    assert 1 <= p["nchunks"] <= 64 and p["chunk"] >= min(4096, m) or p["nchunks"] == 1
    assert (p["nchunks"] - 1) * p["chunk"] < m <= p["nchunks"] * p["chunk"]
    v = rng.standard_normal(m) * 3 + 1e4  # a large mean: the combination must not cancel
    mean, var = C._bn_moments(v.tolist(), n, s)
    np.testing.assert_allclose(mean, v.mean(), rtol=1e-14)
    np.testing.assert_allclose(var, v.var(), rtol=1e-9)


# ------------------------------------------------------ argument checks (fake CUDA)


def same_error(cpu_call, cuda_call):
    """Both raise, with the same type and message (the CUDA binding shares the checks)."""
    with pytest.raises(Exception) as want:
        cpu_call()
    with pytest.raises(type(want.value)) as got:
        cuda_call()
    assert str(got.value) == str(want.value)


def pair(shape, dtype=np.float32):
    a = np.zeros(shape, dtype)
    return cpu(a), fake_cuda(a)


CONV_BAD = [  # x shape, w shape, out shape, stride, padding, dilation, groups, x dtype
    ((2, 3, 5, 5), (4, 2, 3, 3), (2, 4, 3, 3), (1, 1), (0, 0), (1, 1), 1, np.float32),
    ((2, 4, 5, 5), (3, 2, 3, 3), (2, 3, 3, 3), (1, 1), (0, 0), (1, 1), 2, np.float32),
    ((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 4, 3), (1, 1), (0, 0), (1, 1), 1, np.float32),
    ((2, 3, 2, 2), (4, 3, 3, 3), (2, 4, 1, 1), (1, 1), (0, 0), (1, 1), 1, np.float32),
    ((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 3, 3), (0, 1), (0, 0), (1, 1), 1, np.float32),
    ((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 3, 3), (1, 1), (-1, 0), (1, 1), 1, np.float32),
    ((2, 3, 5), (4, 3, 3, 3), (2, 4, 3, 3), (1, 1), (0, 0), (1, 1), 1, np.float32),
]  # a non-float input: test_cuda_conv_tc (CUDA also takes bfloat16 / float16)


@pytest.mark.parametrize("bad", CONV_BAD)
def test_conv_argument_errors_match_cpu(bad):
    xs, ws, ys, stride, padding, dilation, groups, dt = bad
    (xc, xf), (wc, wf), (yc, yf) = pair(xs, dt), pair(ws), pair(ys)
    geo = (stride, padding, dilation, groups)
    same_error(
        lambda: _C.conv2d_forward(xc, wc, None, yc, *geo),
        lambda: C.conv2d_forward(xf, wf, None, yf, *geo),
    )
    same_error(
        lambda: _C.conv2d_backward_input(yc, wc, xc, *geo),
        lambda: C.conv2d_backward_input(yf, wf, xf, *geo),
    )
    same_error(
        lambda: _C.conv2d_backward_weight(yc, xc, wc, *geo),
        lambda: C.conv2d_backward_weight(yf, xf, wf, *geo),
    )


def test_conv_bias_activation_and_device_errors():
    (xc, xf), (wc, wf), (yc, yf) = pair((2, 3, 5, 5)), pair((4, 3, 3, 3)), pair((2, 4, 3, 3))
    (bc, bf), (b64c, b64f) = pair((5,)), pair((4,), np.float64)
    geo = ((1, 1), (0, 0), (1, 1), 1)
    same_error(
        lambda: _C.conv2d_forward(xc, wc, bc, yc, *geo),
        lambda: C.conv2d_forward(xf, wf, bf, yf, *geo),
    )
    same_error(
        lambda: _C.conv2d_forward(xc, wc, b64c, yc, *geo),
        lambda: C.conv2d_forward(xf, wf, b64f, yf, *geo),
    )
    same_error(
        lambda: _C.conv2d_forward(xc, wc, None, yc, *geo, activation="gelu"),
        lambda: C.conv2d_forward(xf, wf, None, yf, *geo, activation="gelu"),
    )
    same_error(lambda: _C.conv2d_backward_bias(yc, bc), lambda: C.conv2d_backward_bias(yf, bf))
    # A CPU tensor among CUDA ones names the argument.
    with pytest.raises(ValueError, match="ember.conv2d.*weight"):
        C.conv2d_forward(xf, wc, None, yf, *geo)
    with pytest.raises(ValueError, match="ember.conv2d.*out"):
        C.conv2d_forward(xf, wf, None, yc, *geo)
    # Too many groups for the grid: a clear error, not a failed launch.
    xs, ws = [1, 70000, 3, 3], [70000, 1, 1, 1]
    with pytest.raises(ValueError, match="ember.conv2d.*65535"):
        C._conv_plan("forward", xs, ws, (1, 1), (0, 0), (1, 1), 70000)
    with pytest.raises(ValueError, match="unknown pass"):
        C._conv_plan("sideways", [1, 1, 1, 1], [1, 1, 1, 1], (1, 1), (0, 0), (1, 1), 1)


def test_pool_argument_errors_match_cpu():
    # input (2, 3, 7, 5), kernel (3, 2), stride 2, padding 1 -> (2, 3, 4, 3)
    (xc, xf), (yc, yf) = pair((2, 3, 7, 5)), pair((2, 3, 4, 3))
    (ic, i_f) = pair((2, 3, 4, 3), np.int64)
    (i32c, i32f) = pair((2, 3, 4, 3), np.int32)
    (x64c, x64f) = pair((2, 3, 7, 5), np.float64)
    k, s, p, d = (3, 2), (2, 2), (1, 1), (1, 1)
    same_error(
        lambda: _C.max_pool2d(xc, yc, i32c, k, s, p, d, False),  # index dtype
        lambda: C.max_pool2d(xf, yf, i32f, k, s, p, d, False),
    )
    same_error(
        lambda: _C.max_pool2d(xc, yc, ic, k, s, (2, 2), d, False),  # padding > k / 2
        lambda: C.max_pool2d(xf, yf, i_f, k, s, (2, 2), d, False),
    )
    same_error(
        lambda: _C.max_pool2d(xc, yc, ic, (3, 9), s, p, d, False),  # input too small
        lambda: C.max_pool2d(xf, yf, i_f, (3, 9), s, p, d, False),
    )
    same_error(
        lambda: _C.max_pool2d_backward(yc, ic, x64c),  # grad_input dtype
        lambda: C.max_pool2d_backward(yf, i_f, x64f),
    )
    same_error(
        lambda: _C.max_pool2d_backward(yc, i32c, xc), lambda: C.max_pool2d_backward(yf, i32f, xf)
    )
    same_error(
        lambda: _C.avg_pool2d(xc, yc, k, (0, 1), p, False, True),
        lambda: C.avg_pool2d(xf, yf, k, (0, 1), p, False, True),
    )
    same_error(
        lambda: _C.avg_pool2d(xc, yc, k, s, p, False, True, -2),
        lambda: C.avg_pool2d(xf, yf, k, s, p, False, True, -2),
    )
    same_error(
        lambda: _C.avg_pool2d_backward(yc, xc, (4, 4), s, p, False, True),  # shape
        lambda: C.avg_pool2d_backward(yf, xf, (4, 4), s, p, False, True),
    )
    same_error(lambda: _C.adaptive_avg_pool2d(xc, x64c), lambda: C.adaptive_avg_pool2d(xf, x64f))
    (zc, zf) = pair((2, 4, 3, 2))
    same_error(lambda: _C.adaptive_avg_pool2d(xc, zc), lambda: C.adaptive_avg_pool2d(xf, zf))
    same_error(
        lambda: _C.adaptive_avg_pool2d_backward(zc, xc),
        lambda: C.adaptive_avg_pool2d_backward(zf, xf),
    )
    with pytest.raises(ValueError, match="ember.max_pool2d.*indices"):
        C.max_pool2d(xf, yf, ic, k, s, p, d, False)
    with pytest.raises(ValueError, match="stride must be positive"):
        C._pool_avg_cover(5, 3, 2, 0, 0)


def test_batchnorm_argument_errors_match_cpu():
    (xc, xf), (vc, vf), (v2c, v2f) = pair((4, 3, 5)), pair((3,)), pair((2,))
    (sc, sf), (tc, tf), (oc, of) = pair((3,)), pair((3,)), pair((4, 3, 5))
    (one_c, one_f), (one_oc, one_of) = pair((1, 3)), pair((1, 3))
    same_error(
        lambda: _C.batch_norm_forward(xc, v2c, None, None, None, oc, sc, tc, True, 0.1, 1e-5),
        lambda: C.batch_norm_forward(xf, v2f, None, None, None, of, sf, tf, True, 0.1, 1e-5),
    )
    same_error(
        lambda: _C.batch_norm_forward(xc, vc, None, None, None, oc, sc, tc, False, 0.1, 1e-5),
        lambda: C.batch_norm_forward(xf, vf, None, None, None, of, sf, tf, False, 0.1, 1e-5),
    )
    same_error(
        lambda: _C.batch_norm_forward(xc, None, None, vc, None, oc, sc, tc, True, 0.1, 1e-5),
        lambda: C.batch_norm_forward(xf, None, None, vf, None, of, sf, tf, True, 0.1, 1e-5),
    )
    same_error(
        lambda: _C.batch_norm_forward(
            one_c, None, None, None, None, one_oc, sc, tc, True, 0.1, 1e-5
        ),
        lambda: C.batch_norm_forward(
            one_f, None, None, None, None, one_of, sf, tf, True, 0.1, 1e-5
        ),
    )
    same_error(
        lambda: _C.batch_norm_forward(xc, None, None, None, None, oc, sc, tc, True, 0.1, -1),
        lambda: C.batch_norm_forward(xf, None, None, None, None, of, sf, tf, True, 0.1, -1),
    )
    same_error(
        lambda: _C.batch_norm_forward(xc, None, None, None, None, oc, sc, sc, True, 0.1, 0),
        lambda: C.batch_norm_forward(xf, None, None, None, None, of, sf, sf, True, 0.1, 0),
    )
    same_error(
        lambda: _C.batch_norm_backward(oc, xc, None, sc, tc, grad_weight=v2c),
        lambda: C.batch_norm_backward(of, xf, None, sf, tf, grad_weight=v2f),
    )
    same_error(
        lambda: _C.batch_norm_backward(oc, xc, None, sc, tc, grad_input=xc),
        lambda: C.batch_norm_backward(of, xf, None, sf, tf, grad_input=xf),
    )
    with pytest.raises(ValueError, match="ember.batch_norm.*weight"):
        C.batch_norm_forward(xf, vc, None, None, None, of, sf, tf, True, 0.1, 1e-5)


@no_gpu
def test_valid_calls_without_a_gpu_fail_cleanly():
    (xf,), (wf,), (yf,) = pair((2, 3, 5, 5))[1:], pair((4, 3, 3, 3))[1:], pair((2, 4, 3, 3))[1:]
    (i_f,) = pair((2, 3, 2, 2), np.int64)[1:]
    (pf,) = pair((2, 3, 2, 2))[1:]
    (vf,), (sf,), (tf,) = pair((3,))[1:], pair((3,))[1:], pair((3,))[1:]
    (bf,) = pair((4,))[1:]
    (of,) = pair((2, 3, 5, 5))[1:]
    geo = ((1, 1), (0, 0), (1, 1), 1)
    calls = [
        lambda: C.conv2d_forward(xf, wf, None, yf, *geo),
        lambda: C.conv2d_backward_input(yf, wf, xf, *geo),
        lambda: C.conv2d_backward_weight(yf, xf, wf, *geo),
        lambda: C.conv2d_backward_bias(yf, bf),
        lambda: C.max_pool2d(xf, pf, i_f, (2, 2), (2, 2), (0, 0), (1, 1), False),
        lambda: C.max_pool2d_backward(pf, i_f, xf),
        lambda: C.avg_pool2d(xf, pf, (2, 2), (2, 2), (0, 0), False, True),
        lambda: C.avg_pool2d_backward(pf, xf, (2, 2), (2, 2), (0, 0), False, True),
        lambda: C.adaptive_avg_pool2d(xf, pf),
        lambda: C.adaptive_avg_pool2d_backward(pf, xf),
        lambda: C.batch_norm_forward(xf, vf, None, None, None, of, sf, tf, True, 0.1, 1e-5),
        lambda: C.batch_norm_backward(of, xf, vf, sf, tf, grad_input=pair((2, 3, 5, 5))[1]),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            call()


# ------------------------------------------------------------------------ with a GPU

TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-4}, np.float64: {"rtol": 1e-11, "atol": 1e-11}}
GPU_CONV_SHAPES = CONV_SHAPES + [
    ((3, 37, 17, 19), (67, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # tails in M, N, R
    ((2, 16, 33, 31), (24, 5, 3), (2, 1), (2, 1), (1, 2), 4),
    ((4, 64, 28, 28), (96, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # split grad weight
    ((1, 130, 9, 9), (130, 3, 3), (2, 2), (1, 1), (1, 1), 130),
    ((2, 24, 19, 23), (160, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # the large tile, tails
    ((4, 130, 20, 20), (136, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # large, split grad weight
]


class TestConvGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", GPU_CONV_SHAPES)
    @pytest.mark.parametrize("dt", [np.float32, np.float64])
    def test_passes_match_cpu(self, shape, dt, rng):
        xs, ws, ys, stride, padding, dilation, groups = conv_args(shape)
        geo = (stride, padding, dilation, groups)
        x, w, gy = (rng.standard_normal(s).astype(dt) for s in (xs, ws, ys))
        b = rng.standard_normal(ws[0]).astype(dt)
        # The reference runs in float64 on the same inputs: ember's float32 CPU conv picks
        # Winograd for 3x3 stride-1 shapes, several times less accurate than the GEMM here.
        x64, w64, gy64, b64 = (a.astype(np.float64) for a in (x, w, gy, b))
        for act in ("none", "relu"):
            want = np.empty(ys)
            _C.conv2d_forward(cpu(x64), cpu(w64), cpu(b64), cpu(want), *geo, act)
            out = upload(np.full(ys, np.nan, dt))
            C.conv2d_forward(upload(x), upload(w), upload(b), out, *geo, act)
            np.testing.assert_allclose(download(out), want, **TOL[dt])
        cases = [
            (_C.conv2d_backward_input, C.conv2d_backward_input, (gy, w), xs),
            (_C.conv2d_backward_weight, C.conv2d_backward_weight, (gy, x), ws),
        ]
        for cpu_fn, cuda_fn, (p, q), shape_out in cases:
            want = np.empty(shape_out)
            cpu_fn(cpu(p.astype(np.float64)), cpu(q.astype(np.float64)), cpu(want), *geo)
            out = upload(np.full(shape_out, np.nan, dt))
            cuda_fn(upload(p), upload(q), out, *geo)
            got = download(out)
            scale = np.abs(want).max() + 1
            np.testing.assert_allclose(got / scale, want / scale, **TOL[dt])
            again = upload(np.full(shape_out, np.nan, dt))
            cuda_fn(upload(p), upload(q), again, *geo)
            np.testing.assert_array_equal(download(again), got)  # deterministic
        want = np.empty(ws[0])
        _C.conv2d_backward_bias(cpu(gy64), cpu(want))
        out = upload(np.full(ws[0], np.nan, dt))
        C.conv2d_backward_bias(upload(gy), out)
        np.testing.assert_allclose(download(out), want, **TOL[dt])

    def test_empty_batch_and_zero_reduction(self):
        xs, ws, ys = [0, 3, 5, 5], [4, 3, 3, 3], [0, 4, 3, 3]
        geo = ((1, 1), (0, 0), (1, 1), 1)
        gw = upload(np.full(ws, np.nan, np.float32))
        C.conv2d_backward_weight(
            upload(np.zeros(ys, np.float32)), upload(np.zeros(xs, np.float32)), gw, *geo
        )
        np.testing.assert_array_equal(download(gw), 0)

    def test_python_api_end_to_end(self, rng):
        import ember
        import ember.nn.functional as F

        x = rng.standard_normal((2, 5, 9, 8)).astype(np.float32)
        w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
        grads = []
        for dev in ("cpu", "cuda"):
            xt = ember.tensor(x, device=dev, requires_grad=True)
            wt = ember.tensor(w, device=dev, requires_grad=True)
            y = F.conv2d(xt, wt, stride=2, padding=1)
            y.backward(ember.ones_like(y))
            grads.append([t.detach().cpu().numpy() for t in (y, xt.grad, wt.grad)])
        for a, b in zip(*grads):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


POOL_GPU = POOL_CASES + [
    ((33, 17), (3, 3), (2, 2), (1, 1), True),
    ((8, 8), (2, 2), (2, 2), (0, 0), False),
]


class TestPoolGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("case", POOL_GPU)
    @pytest.mark.parametrize("dt", [np.float32, np.float64])
    def test_max_pool_matches_cpu_exactly(self, case, dt, rng):
        (h, w), k, s, p, ceil = case
        p = tuple(min(pi, ki // 2) for pi, ki in zip(p, k))
        xs = [3, 5, h, w]
        x = rng.standard_normal(xs).astype(dt)
        x.ravel()[::7] = x.ravel()[3]  # ties
        x.ravel()[5] = np.nan
        for d in ((1, 1), (2, 1)):
            try:
                ys = _C.pool2d_output_shape("t", xs, k, s, p, d, ceil)
            except ValueError:
                continue
            want, wi = np.empty(ys, dt), np.empty(ys, np.int64)
            _C.max_pool2d(cpu(x), cpu(want), cpu(wi), k, s, p, d, ceil)
            out, idx = upload(np.zeros(ys, dt)), upload(np.zeros(ys, np.int64))
            C.max_pool2d(upload(x), out, idx, k, s, p, d, ceil)
            np.testing.assert_array_equal(download(out), want)
            np.testing.assert_array_equal(download(idx), wi)
            gy = rng.standard_normal(ys).astype(dt)
            gx = np.empty(xs, dt)
            _C.max_pool2d_backward(cpu(gy), cpu(wi), cpu(gx))
            g = upload(np.full(xs, np.nan, dt))
            C.max_pool2d_backward(upload(gy), idx, g)
            np.testing.assert_array_equal(download(g), gx)

    def test_max_pool_backward_rejects_bad_indices(self):
        gy = upload(np.ones((1, 1, 2, 2), np.float32))
        idx = upload(np.array([0, 1, 99, 2], np.int64).reshape(1, 1, 2, 2))
        gx = upload(np.zeros((1, 1, 3, 3), np.float32))
        with pytest.raises(IndexError, match="index 99 out of range for a plane of 3 x 3"):
            C.max_pool2d_backward(gy, idx, gx)

    @pytest.mark.parametrize("case", POOL_GPU)
    @pytest.mark.parametrize("include_pad,divisor", [(False, 0), (True, 0), (True, 5)])
    @pytest.mark.parametrize("dt", [np.float32, np.float64])
    def test_avg_pool_matches_cpu_exactly(self, case, include_pad, divisor, dt, rng):
        (h, w), k, s, p, ceil = case
        p = tuple(min(pi, ki // 2) for pi, ki in zip(p, k))
        xs = [2, 3, h, w]
        ys = _C.pool2d_output_shape("t", xs, k, s, p, (1, 1), ceil)
        x, gy = rng.standard_normal(xs).astype(dt), rng.standard_normal(ys).astype(dt)
        want, gx = np.empty(ys, dt), np.empty(xs, dt)
        _C.avg_pool2d(cpu(x), cpu(want), k, s, p, ceil, include_pad, divisor)
        _C.avg_pool2d_backward(cpu(gy), cpu(gx), k, s, p, ceil, include_pad, divisor)
        out, g = upload(np.full(ys, np.nan, dt)), upload(np.full(xs, np.nan, dt))
        C.avg_pool2d(upload(x), out, k, s, p, ceil, include_pad, divisor)
        C.avg_pool2d_backward(upload(gy), g, k, s, p, ceil, include_pad, divisor)
        np.testing.assert_array_equal(download(out), want)
        np.testing.assert_array_equal(download(g), gx)

    @pytest.mark.parametrize(
        "hw,ohw",
        [
            ((7, 5), (3, 2)),
            ((5, 9), (5, 4)),
            ((3, 3), (7, 5)),
            ((1, 1), (1, 1)),
            ((32, 32), (1, 1)),
        ],
    )
    @pytest.mark.parametrize("dt", [np.float32, np.float64])
    def test_adaptive_avg_pool_matches_cpu_exactly(self, hw, ohw, dt, rng):
        xs, ys = [2, 3, *hw], [2, 3, *ohw]
        x, gy = rng.standard_normal(xs).astype(dt), rng.standard_normal(ys).astype(dt)
        want, gx = np.empty(ys, dt), np.empty(xs, dt)
        _C.adaptive_avg_pool2d(cpu(x), cpu(want))
        _C.adaptive_avg_pool2d_backward(cpu(gy), cpu(gx))
        out, g = upload(np.full(ys, np.nan, dt)), upload(np.full(xs, np.nan, dt))
        C.adaptive_avg_pool2d(upload(x), out)
        C.adaptive_avg_pool2d_backward(upload(gy), g)
        np.testing.assert_array_equal(download(out), want)
        np.testing.assert_array_equal(download(g), gx)


class TestBatchNormGPU:
    pytestmark = GPU

    @pytest.mark.parametrize("shape", [(4, 3, 5), (2, 7), (3, 5, 4, 6), (8, 2, 3000), (1, 3, 9000)])
    @pytest.mark.parametrize("affine", [False, True])
    @pytest.mark.parametrize("dt", [np.float32, np.float64])
    def test_forward_backward_match_cpu(self, shape, affine, dt, rng):
        c = shape[1]
        x = (rng.standard_normal(shape) * 2 + 3).astype(dt)
        gy = rng.standard_normal(shape).astype(dt)
        wgt = rng.standard_normal(c).astype(dt) if affine else None
        bias = rng.standard_normal(c).astype(dt) if affine else None
        rm, rv = rng.standard_normal(c).astype(dt), (rng.random(c) + 0.5).astype(dt)
        tol = TOL[dt]
        for training in (True, False):
            ref = [np.empty(shape, dt), np.empty(c, dt), np.empty(c, dt), rm.copy(), rv.copy()]
            _C.batch_norm_forward(
                cpu(x),
                None if wgt is None else cpu(wgt),
                None if bias is None else cpu(bias),
                cpu(ref[3]),
                cpu(ref[4]),
                cpu(ref[0]),
                cpu(ref[1]),
                cpu(ref[2]),
                training,
                0.1,
                1e-5,
            )
            dev = [upload(np.full(a.shape, np.nan, dt)) for a in ref[:3]]
            drm, drv = upload(rm), upload(rv)
            C.batch_norm_forward(
                upload(x),
                None if wgt is None else upload(wgt),
                None if bias is None else upload(bias),
                drm,
                drv,
                *dev,
                training,
                0.1,
                1e-5,
            )
            for got, want in zip([*dev, drm, drv], ref):
                np.testing.assert_allclose(download(got), want, **tol)
            grads = [np.empty(shape, dt), np.empty(c, dt), np.empty(c, dt)]
            _C.batch_norm_backward(
                cpu(gy),
                cpu(x),
                None if wgt is None else cpu(wgt),
                cpu(ref[1]),
                cpu(ref[2]),
                *(cpu(g) for g in grads),
                training=training,
            )
            dg = [upload(np.full(g.shape, np.nan, dt)) for g in grads]
            C.batch_norm_backward(
                upload(gy),
                upload(x),
                None if wgt is None else upload(wgt),
                upload(ref[1]),
                upload(ref[2]),
                *dg,
                training=training,
            )
            for got, want in zip(dg, grads):
                scale = np.abs(want).max() + 1
                np.testing.assert_allclose(download(got) / scale, want / scale, **tol)
