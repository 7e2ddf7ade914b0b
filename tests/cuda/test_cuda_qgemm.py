"""ember._C_cuda's int8 GEMM (qgemm_* / quantize_*) and ember.ops.qgemm on CUDA tensors.

Without a GPU: the packed layout's size on awkward n and k, the launch plan (IMMA vs dp4a,
tiles, shared memory), the mma.sync m16n8k32 fragment coordinates against the PTX ISA's
tables (and conflict-free shared-memory loads), one IMMA block emulated on the host through
the kernel's own chunk / fragment-offset / accumulator math, the cp.async K-tail byte
counts, the block rasterization, the per-element epilogue against numpy float64 and the CPU
kernel, the quantizers' per-element math against the CPU kernels bit for bit, and every
argument check with fake CUDA tensors (the CPU binding's exceptions and messages). With a
GPU (`-m cuda`): both paths against ember's CPU kernels on the same inputs (int32
accumulators bit-exact, the fused epilogue within float32 rounding), the quantizers
bit-exact, and QuantizedLinear after .to("cuda") against the CPU layer.
"""

import math
import re

import ember._C as _C
import numpy as np
import pytest
from test_cuda import GPU, C, cpu, fake_cuda, needs_ext, no_gpu

import ember
from ember.ops import qgemm

pytestmark = needs_ext
F32 = np.float32


def ceil_to(v, q):
    return -(-v // q) * q


# ------------------------------------------------------------------ layout and plan


@pytest.mark.parametrize(
    "n,k", [(1, 1), (1, 64), (1, 65), (2, 3), (7, 13), (33, 33), (257, 127), (5, 65536)]
)
def test_packed_bytes_pad_each_row_to_64(n, k):
    assert C.qgemm_packed_bytes(n, k) == n * ceil_to(k, 64)
    assert C._qgemm_plan(1, n, k, k)["packed_ld"] == ceil_to(k, 64)


@pytest.mark.parametrize(
    "m,n,k", [(1, 1, 1), (2, 3, 16), (127, 129, 32), (129, 127, 4096), (4099, 257, 80)]
)
def test_plan_imma_for_aligned_rows(m, n, k):
    lda = ceil_to(k, 16)
    p = C._qgemm_plan(m, n, k, lda, 256)
    assert p["path"] == "imma"
    assert p["tile"] == (128, 128, 64) and p["threads"] == 256 and p["stages"] == 3
    assert p["smem_bytes"] == 3 * (128 + 128) * 80  # rows of 64 bytes + 16 of padding
    assert (p["m_tiles"], p["n_tiles"]) == (math.ceil(m / 128), math.ceil(n / 128))
    assert p["blocks"] == p["m_tiles"] * p["n_tiles"]


@pytest.mark.parametrize(
    "m,k,lda,address,path",
    [
        (5, 33, 33, 0, "dp4a"),  # row stride not a multiple of 16
        (5, 32, 32, 8, "dp4a"),  # base not 16-byte aligned
        (5, 33, 48, 0, "imma"),  # a K tail inside aligned rows
        (1, 33, 33, 0, "imma"),  # one row needs no row stride
        (1, 16, 16, 4, "dp4a"),
    ],
)
def test_plan_alignment_picks_the_path(m, k, lda, address, path):
    p = C._qgemm_plan(m, 70, k, lda, address)
    assert p["path"] == path
    if path == "dp4a":
        assert p["tile"] == (64, 64, 32) and p["smem_bytes"] == 2 * 64 * 36
        assert p["blocks"] == math.ceil(m / 64) * math.ceil(70 / 64)
        assert "aligned" in p["reason"]


def test_plan_empty_and_bad_arguments():
    assert C._qgemm_plan(0, 5, 7, 7)["blocks"] == 0
    for args in ((1, 0, 7, 7), (1, 5, 0, 0), (1, 5, 7, 6), (-1, 5, 7, 7)):
        with pytest.raises(ValueError, match="_qgemm_plan"):
            C._qgemm_plan(*args)


# ------------------------------------------------------------------ fragments (PTX ISA tables)


def ptx_a(lane, i):
    """m16n8k32 .u8 A element i (0..15) of a lane: (row, col), as the PTX ISA states it."""
    g, t = lane // 4, lane % 4
    row = g if (i < 4 or 8 <= i < 12) else g + 8
    col = t * 4 + (i & 3) + (16 if i >= 8 else 0)
    return row, col


def ptx_b(lane, i):
    """m16n8k32 .s8 B element i (0..7): (row = k, col = n)."""
    g, t = lane // 4, lane % 4
    return t * 4 + (i & 3) + (16 if i >= 4 else 0), g


def ptx_c(lane, i):
    """m16n8 .s32 accumulator element i (0..3): (row, col)."""
    g, t = lane // 4, lane % 4
    return g + (8 if i >= 2 else 0), t * 2 + (i & 1)


@pytest.mark.parametrize(
    "which,regs,bytes_,ref,shape",
    [(0, 4, 4, ptx_a, (16, 32)), (1, 2, 4, ptx_b, (32, 8)), (2, 4, 1, ptx_c, (16, 8))],
)
def test_fragment_coords_match_ptx_and_cover_the_tile(which, regs, bytes_, ref, shape):
    seen = np.zeros(shape, int)
    for lane in range(32):
        for r in range(regs):
            for e in range(bytes_):
                got = C._qgemm_fragment_coord(which, lane, r, e)
                assert got == ref(lane, r * bytes_ + e), (which, lane, r, e)
                seen[got] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize("which,regs,rows", [(0, 4, 128), (1, 2, 128)])
def test_fragment_loads_are_bank_conflict_free(which, regs, rows):
    lds = 80  # shared row stride in bytes (plan: 64 + 16)
    for r in range(regs):
        for ks in (0, 32):
            banks = set()
            for lane in range(32):
                row, col = C._qgemm_fragment_coord(which, lane, r, 0)
                if which == 1:  # B is stored [n][k]: (k, n) -> row n, column k
                    row, col = col, row
                assert col % 4 == 0 and row < rows
                banks.add(((row * lds + ks + col) // 4) % 32)
            assert len(banks) == 32


def emulate_imma_block(a_tile, b_tile):
    """One IMMA block over one 64-deep k block, on the host: cp.async chunks into stage
    tiles of 80-byte rows, every warp's fragment loads at the kernel's offsets, each
    mma.sync per the PTX tables (ptx_a / ptx_b / ptx_c), accumulators placed at the kernel's
    coordinates. a_tile (128, 64) uint8, b_tile (128, 64) int8 -> (128, 128) int64."""
    lds, bk = 80, 64
    stage = {}
    for name, tile in (("a", a_tile.view(np.uint8)), ("b", b_tile.view(np.uint8))):
        smem = np.full(128 * lds, 0xEE, np.uint8)  # padding bytes must never be read
        for c in range(128 * bk // 16):
            row, kb = C._qgemm_imma_index(0, c)
            smem[row * lds + kb : row * lds + kb + 16] = tile[row, kb : kb + 16]
        stage[name] = smem if name == "a" else smem.view(np.int8)
    out = np.full((128, 128), -(2**62), np.int64)
    for warp in range(8):
        for ks in (0, 32):
            for mt in range(4):
                a_frag = np.zeros((16, 32), np.int64)
                for lane in range(32):
                    for r in range(4):
                        off = C._qgemm_imma_index(2, warp, lane, mt, r, ks)[0]
                        assert off % 4 == 0
                        for e in range(4):
                            a_frag[ptx_a(lane, 4 * r + e)] = stage["a"][off + e]
                for nt in range(4):
                    b_frag = np.zeros((32, 8), np.int64)
                    for lane in range(32):
                        for r in range(2):
                            off = C._qgemm_imma_index(3, warp, lane, nt, r, ks)[0]
                            for e in range(4):
                                b_frag[ptx_b(lane, 4 * r + e)] = stage["b"][off + e]
                    d = a_frag @ b_frag
                    for lane in range(32):
                        for i in range(4):
                            row, col = C._qgemm_imma_index(4, warp, lane, mt, nt, i)
                            prev = out[row, col] if ks else 0
                            out[row, col] = prev + d[ptx_c(lane, i)]
    return out


def test_imma_block_addressing_computes_the_product(rng):
    a = rng.integers(0, 256, (128, 64), dtype=np.uint8)
    b = rng.integers(-128, 128, (128, 64), dtype=np.int8)
    got = emulate_imma_block(a, b)
    np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64).T)


def test_imma_warps_tile_the_block():
    origins = sorted(C._qgemm_imma_index(1, w) for w in range(8))
    assert origins == [(r, c) for r in (0, 64) for c in (0, 32, 64, 96)]
    chunks = sorted(C._qgemm_imma_index(0, c) for c in range(128 * 4))
    assert chunks == [(r, k) for r in range(128) for k in (0, 16, 32, 48)]


@pytest.mark.parametrize(
    "row,m,kk,k,want",
    [(0, 1, 0, 64, 16), (0, 1, 48, 64, 16), (0, 1, 32, 33, 1), (0, 1, 16, 33, 16),
     (0, 1, 48, 33, 0), (3, 3, 0, 64, 0), (2, 3, 0, 5, 5), (0, 9, 65520, 65536, 16)],
)  # fmt: skip
def test_a_chunk_bytes_zero_fill_tails(row, m, kk, k, want):
    assert C._qgemm_a_chunk_bytes(row, m, kk, k) == want


@pytest.mark.parametrize("m_tiles,n_tiles", [(1, 1), (3, 7), (17, 2)])
def test_tile_order_visits_every_tile_once(m_tiles, n_tiles):
    tiles = [C._qgemm_tile_of(i, n_tiles) for i in range(m_tiles * n_tiles)]
    assert sorted(tiles) == [(i, j) for i in range(m_tiles) for j in range(n_tiles)]
    assert tiles[:n_tiles] == [(0, j) for j in range(n_tiles)]  # a row block walks the weight


# ------------------------------------------------------------------ per-element math


def f32(v):
    return float(np.float32(v))


def epilogue_f32(acc, a_scale, a_zero, w_scale, colsum, bias, act):
    """The CPU epilogue's order in numpy float32: wrap, float, * a_scale, * w_scale, + bias."""
    centered = np.int64(acc) - np.int64(a_zero) * np.int64(colsum)
    centered = ((centered + 2**31) % 2**32) - 2**31
    x = np.float32(centered) * np.float32(a_scale) * np.float32(w_scale)
    if bias is not None:
        x = x + np.float32(bias)
    return float(max(x, np.float32(0)) if act == 1 else x)


def gelu64(v):
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def test_epilogue_order_and_float64(rng):
    for _ in range(300):
        acc = int(rng.integers(-(2**31), 2**31))
        a_zero, colsum = int(rng.integers(0, 256)), int(rng.integers(-(2**23), 2**23))
        a_scale, w_scale = f32(rng.random() * 0.1), f32(rng.random() * 0.01)
        bias = f32(rng.standard_normal())
        for has_bias in (False, True):
            b = bias if has_bias else None
            for act in (0, 1):
                got = C._qgemm_epilogue(acc, a_scale, a_zero, w_scale, colsum, bias, has_bias, act)
                assert got == epilogue_f32(acc, a_scale, a_zero, w_scale, colsum, b, act)
            got = C._qgemm_epilogue(acc, a_scale, a_zero, w_scale, colsum, bias, has_bias, 2)
            centered = acc - a_zero * colsum  # exact in Python ints
            pre = a_scale * w_scale * centered + (bias if has_bias else 0.0)
            wrapped = ((centered + 2**31) % 2**32) - 2**31 == centered
            if wrapped:
                assert math.isclose(got, gelu64(pre), rel_tol=1e-5, abs_tol=1e-6 * abs(pre))


def u8_impl(a):
    return cpu(np.ascontiguousarray(a.astype(np.uint8).view(np.int8)))


def hook_epilogue(acc, i, j, a_scale, a_zero, w_scale, colsum, bias, with_bias, act):
    """The kernels' epilogue (on the host) of output (i, j)."""
    return C._qgemm_epilogue(
        int(acc[i, j]), f32(a_scale[i]), int(a_zero[i]), f32(w_scale[j]), int(colsum[j]),
        f32(bias[j]), with_bias, act,
    )  # fmt: skip


@pytest.mark.parametrize("act", [0, 1, 2])
@pytest.mark.parametrize("with_bias", [False, True])
def test_epilogue_matches_the_cpu_kernel(rng, act, with_bias):
    m, n, k = 7, 45, 67
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    a_scale = (rng.random(m) * 0.1 + 0.001).astype(np.float32)
    a_zero = rng.integers(0, 256, m).astype(np.int32)
    w_scale = (rng.random(n) * 0.01 + 0.0001).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    packed = np.empty(_C.qgemm_packed_bytes(n, k), np.int8)
    colsum = np.empty(n, np.int32)
    _C.qgemm_pack(cpu(w), cpu(packed), cpu(colsum))
    out = np.empty((m, n), np.float32)
    _C.qgemm_linear(u8_impl(x), cpu(a_scale), cpu(a_zero), cpu(packed), cpu(colsum),
                    cpu(w_scale), cpu(bias) if with_bias else None, act, cpu(out))  # fmt: skip
    acc = x.astype(np.int64) @ w.astype(np.int64).T
    args = (a_scale, a_zero, w_scale, colsum, bias, with_bias, act)
    got = np.array([[hook_epilogue(acc, i, j, *args) for j in range(n)] for i in range(m)], F32)
    if act == 2:  # the CPU's vectorized erf is not libm's
        np.testing.assert_allclose(got, out, rtol=2e-6, atol=1e-6 * np.abs(out).max())
    elif with_bias:  # the CPU build may fuse the last multiply and add into an fma
        np.testing.assert_allclose(got, out, rtol=2.5e-7, atol=1e-7 * np.abs(out).max())
    else:
        np.testing.assert_array_equal(got, out)


def test_row_qparams_and_codes_match_the_cpu_quantizer(rng):
    rows = [
        rng.standard_normal(37) * 3,
        rng.random(64) * 5,  # all positive: zero point 0
        -rng.random(5) * 2,  # all negative: zero point 255
        np.zeros(9),  # scale 1
        np.array([0.5, -0.5, 1.5, 2.5, -2.5, 1e-30, 7.0]),
        rng.standard_normal(100) * 1e4,
    ]
    for row in rows:
        x = row.astype(np.float32)[None, :]
        q = np.empty(x.shape, np.int8)
        scale, zero = np.empty(1, np.float32), np.empty(1, np.int32)
        _C.quantize_rows_u8(cpu(x), cpu(q), cpu(scale), cpu(zero))
        lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
        s, z = C._qgemm_row_qparams(lo, hi)
        assert (s, z) == (float(scale[0]), float(zero[0]))
        codes = [C._qgemm_quantize_code(float(v), s, z) for v in x[0]]
        assert codes == q[0].view(np.uint8).tolist()


def test_static_codes_match_the_cpu_quantizer(rng):
    x = np.concatenate(
        [
            rng.standard_normal(200).astype(np.float32) * 40,
            np.array([0.5, 1.5, -0.5, 2.5, 1e30, -1e30, np.inf, -np.inf, np.nan], np.float32),
        ]
    )
    for scale, zero in ((0.25, 128), (1.0, 0), (3.7, 255), (1e-6, 17)):
        q = np.empty(x.shape, np.int8)
        _C.quantize_u8_static(cpu(x), scale, zero, cpu(q))
        got = [C._qgemm_quantize_code(float(v), f32(scale), float(zero)) for v in x]
        assert got == q.view(np.uint8).tolist()


# ------------------------------------------------------------------ argument checks


def qgemm_args(fn, make, mod, n=5, k=7, m=3, **over):
    """Arguments of `fn` on one device (make: cpu or fake_cuda), packed for mod's layout;
    over replaces any of them with a numpy array (or None)."""
    arrays = {
        "weight": np.ones((n, k), np.int8),
        "packed": np.zeros(mod.qgemm_packed_bytes(n, k), np.int8),
        "colsum": np.zeros(n, np.int32),
        "input": np.ones((m, k), np.int8),
        "out": np.zeros((m, n), np.int32 if fn == "qgemm_s32" else np.float32),
        "a_scale": np.ones(m, np.float32),
        "a_zero": np.zeros(m, np.int32),
        "w_scale": np.ones(n, np.float32),
        "bias": np.ones(n, np.float32),
        "x": np.ones((m, k), np.float32),
        "q": np.zeros((m, k), np.int8),
        "scale": np.ones(m, np.float32),
        "zero": np.zeros(m, np.int32),
    }
    scalars = {key: over.pop(key) for key in ("n_arg", "act", "s", "z") if key in over}
    arrays.update(over)
    t = {name: None if a is None else make(a) for name, a in arrays.items()}
    if fn == "qgemm_pack":
        return (t["weight"], t["packed"], t["colsum"])
    if fn == "qgemm_s32":
        return (t["input"], t["packed"], scalars.get("n_arg", n), t["out"])
    if fn == "qgemm_linear":
        return (t["input"], t["a_scale"], t["a_zero"], t["packed"], t["colsum"], t["w_scale"],
                t["bias"], scalars.get("act", 0), t["out"])  # fmt: skip
    if fn == "quantize_rows_u8":
        return (t["x"], t["q"], t["scale"], t["zero"])
    return (t["x"], scalars.get("s", 0.5), scalars.get("z", 3), t["q"])  # quantize_u8_static


def both(fn, **over):
    """(CPU error, CUDA error) of the same call on CPU and on fake CUDA tensors."""
    errs = []
    for make, mod in ((cpu, _C), (fake_cuda, C)):
        args = qgemm_args(fn, make, mod, **{k: v for k, v in over.items() if k != "packed_bad"})
        if "packed_bad" in over:  # a packed weight one byte short, in each device's layout
            short = np.zeros(mod.qgemm_packed_bytes(5, 7) - 1, np.int8)
            args = qgemm_args(fn, make, mod, packed=short)
        try:
            getattr(mod, fn)(*args)
        except Exception as e:  # noqa: BLE001 - compared below
            errs.append(e)
        else:
            errs.append(None)
    return errs


CHECKS = [
    ("qgemm_pack", {"weight": np.ones((5, 7, 1), np.int8)}, ValueError, "must be 2-D"),
    ("qgemm_pack", {"weight": np.ones((5, 7), np.float32)}, TypeError, "expected weight of dtype"),
    ("qgemm_pack", {"weight": np.ones((5, 7), np.int8)[:, ::2]}, ValueError, "contiguous"),
    ("qgemm_pack", {"colsum": np.zeros(4, np.int32)}, ValueError, "colsum of shape"),
    ("qgemm_pack", {"colsum": np.zeros(5, np.int64)}, TypeError, "expected colsum of dtype"),
    ("qgemm_s32", {"input": np.ones((3, 7, 1), np.int8)}, ValueError, "input must be 2-D"),
    ("qgemm_s32", {"input": np.ones((3, 14), np.int8)[:, ::2]}, ValueError, "rows must be"),
    ("qgemm_s32", {"input": np.ones((3, 7), np.float32)}, TypeError, "expected input of dtype"),
    ("qgemm_s32", {"n_arg": 0}, ValueError, "at least one output channel"),
    ("qgemm_s32", {"out": np.zeros((3, 4), np.int32)}, ValueError, r"out has shape \(3, 4\)"),
    ("qgemm_s32", {"out": np.zeros((3, 5), np.float32)}, TypeError, "expected out of dtype"),
    ("qgemm_linear", {"a_scale": np.ones(2, np.float32)}, ValueError, "a_scale of shape"),
    ("qgemm_linear", {"a_zero": np.zeros(3, np.int64)}, TypeError, "expected a_zero of dtype"),
    ("qgemm_linear", {"w_scale": np.ones(5, np.float64)}, TypeError, "expected w_scale of dtype"),
    ("qgemm_linear", {"bias": np.ones(6, np.float32)}, ValueError, "bias of shape"),
    ("qgemm_linear", {"act": 3}, ValueError, r"activation code must be in \[0, 2\]"),
    ("qgemm_linear", {"out": np.zeros((3, 5), np.int32)}, TypeError, "expected out of dtype"),
    ("quantize_rows_u8", {"x": np.ones((3, 7), np.float64)}, TypeError, "expected input of dtype"),
    ("quantize_rows_u8", {"q": np.zeros((3, 6), np.int8)}, ValueError, "q has shape"),
    ("quantize_rows_u8", {"zero": np.zeros(2, np.int32)}, ValueError, "zero of shape"),
    ("quantize_u8_static", {"s": 0.0}, ValueError, "positive finite float32"),
    ("quantize_u8_static", {"s": float("nan")}, ValueError, "positive finite float32"),
    ("quantize_u8_static", {"s": 1e300}, ValueError, "positive finite float32"),
    ("quantize_u8_static", {"z": 256}, ValueError, r"zero point must be in \[0, 255\]"),
    ("quantize_u8_static", {"q": np.zeros((3, 7), np.int32)}, TypeError, "expected q of dtype"),
]


@pytest.mark.parametrize("fn,over,exc,match", CHECKS)
def test_argument_errors_match_the_cpu(fn, over, exc, match):
    cpu_err, cuda_err = both(fn, **over)
    assert type(cpu_err) is type(cuda_err) is exc, (cpu_err, cuda_err)
    assert str(cuda_err) == str(cpu_err)
    assert str(cuda_err).startswith("ember.ops.qgemm.") and re.search(match, str(cuda_err))


@pytest.mark.parametrize("fn", ["qgemm_pack", "qgemm_s32", "qgemm_linear"])
def test_packed_size_is_checked_for_each_layout(fn):
    over = {"weight": np.ones((5, 7), np.int8)} if fn == "qgemm_pack" else {}
    cpu_err, cuda_err = both(fn, packed_bad=True, **over)
    for err, mod in ((cpu_err, _C), (cuda_err, C)):
        assert type(err) is ValueError
        assert f"(expected shape ({mod.qgemm_packed_bytes(5, 7)},))" in str(err)


@pytest.mark.parametrize(
    "fn,over",
    [
        ("qgemm_pack", {"weight": np.ones((1, 65537), np.int8)}),
        ("qgemm_pack", {"weight": np.ones((3, 0), np.int8)}),
        ("qgemm_s32", {"input": np.ones((1, 65537), np.int8), "out": np.zeros((1, 5), np.int32)}),
        ("qgemm_linear", {"input": np.ones((3, 0), np.int8)}),
    ],
)
def test_k_limits_match_the_cpu(fn, over):
    cpu_err, cuda_err = both(fn, **over)
    assert type(cuda_err) is type(cpu_err) is ValueError
    assert str(cuda_err) == str(cpu_err) and "must be in [1, 65536]" in str(cuda_err)


def test_mixed_devices_are_named():
    args = list(qgemm_args("qgemm_s32", fake_cuda, C))
    args[3] = cpu(np.zeros((3, 5), np.int32))
    with pytest.raises(ValueError, match="int8_matmul: out is on cpu, expected cuda"):
        C.qgemm_s32(*args)
    args = list(qgemm_args("qgemm_linear", fake_cuda, C))
    args[1] = cpu(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="int8_linear: a_scale is on cpu, expected cuda"):
        C.qgemm_linear(*args)


@no_gpu
@pytest.mark.parametrize(
    "fn", ["qgemm_pack", "qgemm_s32", "qgemm_linear", "quantize_rows_u8", "quantize_u8_static"]
)
def test_valid_arguments_reach_the_device_check(fn):
    with pytest.raises(RuntimeError):
        getattr(C, fn)(*qgemm_args(fn, fake_cuda, C))


@no_gpu
def test_python_ops_name_mixed_devices():
    w = qgemm.pack_int8_weight(ember.from_numpy(np.ones((5, 7), np.int8)))
    x = ember.Tensor(fake_cuda(np.ones((3, 7), np.int8)))
    with pytest.raises(ValueError, match="packed weight is on cpu but the input is on cuda:0"):
        qgemm.int8_matmul(x, w)
    ones = ember.from_numpy(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="the packed weight is on cpu"):
        qgemm.int8_linear(x, ones, ones, w, ember.from_numpy(np.ones(5, np.float32)))


# ------------------------------------------------------------------ on a GPU


def gpu(fn):
    """Marks a test `cuda` and skips it without a GPU."""
    for mark in GPU:
        fn = mark(fn)
    return fn


def u8_tensor(a):
    return ember.from_numpy(np.ascontiguousarray(a.astype(np.uint8).view(np.int8)))


def host(t):
    return t.cpu().numpy()


SHAPES = [
    (1, 1, 1),
    (1, 17, 64),  # one row: IMMA
    (2, 3, 7),  # dp4a (row stride 7)
    (7, 31, 13),
    (13, 16, 64),
    (97, 33, 127),
    (129, 131, 256),  # IMMA with M and N tails
    (200, 257, 37),
    (5, 1000, 3),
    (300, 48, 1031),
    (257, 385, 4096),
]


@gpu
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gpu_s32_matches_the_cpu_bit_exactly(rng, m, n, k):
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    want = qgemm.int8_matmul(u8_tensor(x), qgemm.pack_int8_weight(ember.from_numpy(w))).numpy()
    packed = qgemm.pack_int8_weight(ember.from_numpy(w).cuda())
    assert packed.device.type == "cuda"
    got = host(qgemm.int8_matmul(u8_tensor(x).cuda(), packed))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(host(packed.colsum), w.astype(np.int32).sum(1))


@gpu
@pytest.mark.parametrize("m,n,k,width", [(5, 70, 33, 48), (130, 9, 100, 112), (64, 128, 1, 16)])
def test_gpu_imma_k_tails_in_aligned_rows(rng, m, n, k, width):
    buf = rng.integers(0, 256, (m, width), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    x = u8_tensor(buf).cuda()[:, :k]  # row stride `width` (16-byte multiple), K tail inside
    assert C._qgemm_plan(m, n, k, width, 0)["path"] == "imma"
    got = host(qgemm.int8_matmul(x, qgemm.pack_int8_weight(ember.from_numpy(w).cuda())))
    np.testing.assert_array_equal(got, buf[:, :k].astype(np.int64) @ w.astype(np.int64).T)


@gpu
@pytest.mark.parametrize("k", [64, 4099, 65536])
def test_gpu_extreme_values_over_long_k(k):
    m, n = 3, 19
    x = np.full((m, k), 255, np.uint8)
    w = np.full((n, k), -128, np.int8)
    w[1::2] = 127
    got = host(
        qgemm.int8_matmul(u8_tensor(x).cuda(), qgemm.pack_int8_weight(ember.from_numpy(w).cuda()))
    )
    np.testing.assert_array_equal(got, x.astype(np.int64) @ w.astype(np.int64).T)


@gpu
@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (37, 45, 67), (70, 129, 320), (300, 200, 1024)])
def test_gpu_linear_matches_the_cpu(rng, activation, m, n, k):
    x = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    vecs = [
        (rng.random(m) * 0.1 + 0.001).astype(np.float32),
        rng.integers(0, 256, m).astype(np.int32),
        (rng.random(n) * 0.01 + 0.0001).astype(np.float32),
        rng.standard_normal(n).astype(np.float32),
    ]
    outs = []
    for dev in ("cpu", "cuda"):
        a_scale, a_zero, w_scale, bias = (ember.from_numpy(v).to(dev) for v in vecs)
        packed = qgemm.pack_int8_weight(ember.from_numpy(w).to(dev))
        y = qgemm.int8_linear(u8_tensor(x).to(dev), a_scale, a_zero, packed, w_scale, bias,
                              activation)  # fmt: skip
        outs.append(host(y))
    want, got = outs
    rtol = 2e-6 if activation == "gelu" else 2.5e-7
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6 * np.abs(want).max())


@gpu
def test_gpu_bad_zero_point_is_a_value_error(rng):
    x = u8_tensor(rng.integers(0, 256, (4, 8), dtype=np.uint8)).cuda()
    packed = qgemm.pack_int8_weight(ember.from_numpy(np.ones((3, 8), np.int8)).cuda())
    zero = ember.from_numpy(np.array([0, 255, 256, -1], np.int32)).cuda()
    ones = ember.from_numpy(np.ones(4, np.float32)).cuda()
    with pytest.raises(ValueError, match=r"int8_linear: a_zero\[2\] = 256 is outside \[0, 255\]"):
        qgemm.int8_linear(x, ones, zero, packed, ember.from_numpy(np.ones(3, np.float32)).cuda())


@gpu
@pytest.mark.parametrize("m,k", [(1, 1), (3, 5), (17, 300), (64, 4097), (2, 0)])
def test_gpu_quantizers_match_the_cpu_bit_exactly(rng, m, k):
    x = (rng.standard_normal((m, k)) * rng.random((m, 1)) * 10).astype(np.float32)
    if m > 2:
        x[1] = np.abs(x[1])  # zero point 0
        x[2] = 0.0  # scale 1
    want = [t.numpy() for t in qgemm.quantize_rows_u8(ember.from_numpy(x))]
    got = [host(t) for t in qgemm.quantize_rows_u8(ember.from_numpy(x).cuda())]
    for g, w_ in zip(got, want):
        np.testing.assert_array_equal(g, w_)
    for scale, zero in ((0.05, 128), (3.0, 0)):
        want = qgemm.quantize_u8_static(ember.from_numpy(x), scale, zero).numpy()
        got = host(qgemm.quantize_u8_static(ember.from_numpy(x).cuda(), scale, zero))
        np.testing.assert_array_equal(got, want)


@gpu
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("activation", [None, "gelu", "gelu_tanh"])
def test_gpu_quantized_linear_after_to_cuda(rng, static, activation):
    from ember.quant.linear import QuantizedLinear

    lin = ember.nn.Linear(67, 45)
    layer = QuantizedLinear.from_float(
        lin, activation=activation, act_qparams=(0.02, 128) if static else None
    )
    x = ember.from_numpy(rng.standard_normal((3, 5, 67)).astype(np.float32))
    want = layer(x).numpy()
    cpu_packed = layer.packed_weight()
    layer.to("cuda")
    assert layer.packed_weight().device.type == "cuda" and cpu_packed.device.type == "cpu"
    got = host(layer(x.cuda()))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ValueError, match="input is on cpu but the layer is on cuda:0"):
        layer(x)


@no_gpu
def test_quantized_linear_repacks_on_its_new_device():
    from ember.quant.linear import QuantizedLinear

    layer = QuantizedLinear.from_float(ember.nn.Linear(7, 5))
    assert layer.packed_weight().device.type == "cpu"
    layer.weight = ember.Tensor(fake_cuda(layer.weight.numpy()))  # what .to("cuda") assigns
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        layer.packed_weight()  # packs again, into CUDA memory (no GPU here)
    x = ember.from_numpy(np.ones((2, 7), np.float32))
    with pytest.raises(ValueError, match="input is on cpu but the layer is on cuda:0"):
        layer(x)
