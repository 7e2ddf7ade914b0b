"""ember._C_cuda.gemm / matmul.

Without a GPU: the host-side logic the kernels use (path and launch plan, the shared-memory
swizzle, ldmatrix addressing and mma.sync fragment layouts checked against the PTX ISA's
tables, block rasterization, the per-element epilogue against numpy float64) and every
argument check, driven with fake CUDA tensors, with the CPU binding's messages. With a GPU
(`-m cuda`): every path (tensor cores for bf16/f16, TF32, SIMT f32/f64) on awkward shapes,
strides, alignments, broadcast batches and epilogues, against numpy float64 and ember's CPU
GEMM on the same inputs.
"""

import math
import re

import ember._C as _C
import numpy as np
import pytest
from test_cuda import BF16, F16, F32, F64, HAS_GPU, C, cpu, download, fake_cuda, needs_ext, upload

import ember
import ember.backends.cuda

pytestmark = needs_ext
on_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
LANES = range(32)


def plan(m, n, k, dtype=BF16, a=None, b=None, batch=1, tf32=False, a_addr=0, b_addr=0):
    """The plan for contiguous (batch, m, k) @ (batch, k, n) unless strides are given."""
    a = a if a is not None else [m * k, k, 1]
    b = b if b is not None else [k * n, n, 1]
    return C._gemm_plan(batch, m, n, k, dtype, a, b, a_addr, b_addr, tf32)


# ------------------------------------------------------------------ plan


def test_plan_tensor_core_for_aligned_16bit():
    for dtype in (BF16, F16):
        p = plan(4096, 4096, 4096, dtype)
        assert p["path"] == "tensor_core"
        assert p["tile"] == (128, 128, 32) and p["threads"] == 256 and p["stages"] == 4
        assert p["smem_bytes"] == 4 * (128 + 128) * 32 * 2
        assert (p["m_tiles"], p["n_tiles"], p["grid"]) == (32, 32, (1024, 1, 1))
        assert p["a_k_contig"] and not p["b_k_contig"] and p["a_ld"] == p["b_ld"] == 4096


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (129, 131, 8), (127, 1, 24), (4099, 257, 16)])
def test_plan_tails_count_partial_tiles(m, n, k):
    ld = -(-n // 8) * 8  # b's rows padded to whole 16-byte chunks
    p = plan(m, n, k, b=[0, ld, 1])
    assert p["path"] == "tensor_core"
    assert p["m_tiles"] == math.ceil(m / 128) and p["n_tiles"] == math.ceil(n / 128)
    assert p["grid"][0] == p["m_tiles"] * p["n_tiles"]


def test_plan_float32_needs_tf32_and_float64_is_simt():
    assert plan(512, 512, 512, F32)["path"] == "simt"
    p = plan(512, 512, 512, F32, tf32=True)
    assert p["path"] == "tf32" and p["stages"] == 3 and p["smem_bytes"] == 3 * 256 * 32 * 4
    assert plan(512, 512, 512, F64, tf32=True)["path"] == "simt"
    s = plan(100, 70, 9, F64)
    assert s["tile"] == (64, 64, 16) and s["threads"] == 256 and s["smem_bytes"] == 0
    assert (s["m_tiles"], s["n_tiles"]) == (2, 2)


def test_plan_transposed_operands_stay_on_tensor_cores():
    m, n, k = 64, 48, 40
    # a = x.T (m contiguous), b = w.T (k contiguous): the linear layer's weight.
    p = plan(m, n, k, a=[0, 1, m], b=[0, 1, k])
    assert p["path"] == "tensor_core"
    assert not p["a_k_contig"] and p["a_ld"] == m
    assert p["b_k_contig"] and p["b_ld"] == k


@pytest.mark.parametrize(
    "kwargs,why",
    [
        ({"a_addr": 2}, "a 2-byte aligned a"),
        ({"b_addr": 8}, "an 8-byte aligned b"),
        ({"a": [0, 7, 1]}, "rows of a 7 elements apart"),
        ({"b": [0, 24, 3]}, "no unit stride in b"),
        ({"batch": 2, "a": [20, 8, 1]}, "batch stride not a 16-byte multiple"),
    ],
)
def test_plan_falls_back_to_simt(kwargs, why):
    p = plan(16, 16, 8, **kwargs)
    assert p["path"] == "simt", why
    assert "SIMT" in p["reason"]


def test_plan_unit_extents_and_broadcast_batches():
    # k == 1: a (m, 1) column has no usable row stride but is contiguous along m.
    p = plan(40, 16, 1, a=[40, 1, 1], b=[16, 16, 1], batch=3)
    assert p["path"] == "tensor_core" and not p["a_k_contig"]
    # a batch stride of 0 broadcasts; an odd one is fine when there is one batch.
    assert plan(32, 32, 32, batch=5, b=[0, 32, 1])["path"] == "tensor_core"
    assert plan(32, 32, 32, batch=1, a=[3, 32, 1])["path"] == "tensor_core"
    assert plan(8, 8, 8, batch=70000)["grid"] == (1, 1, 65535)  # batches loop in the kernel
    p = plan(0, 5, 3)
    assert p["m_tiles"] == 0 and p["grid"][0] == 0


def test_plan_rejects_bad_arguments():
    with pytest.raises(TypeError, match="unsupported dtype"):
        plan(4, 4, 4, dtype=2)
    with pytest.raises(ValueError, match="non-negative"):
        plan(-1, 4, 4)


# ------------------------------------------------ shared-memory swizzle


@pytest.mark.parametrize("rows,chunks", [(128, 4), (32, 16), (128, 8), (32, 32)])
def test_swizzle_is_a_permutation_of_each_row(rows, chunks):
    for r in range(rows):
        phys = [C._gemm_swizzle_chunk(r, c, chunks) for c in range(chunks)]
        assert sorted(phys) == list(range(chunks))


@pytest.mark.parametrize("rows,chunks", [(128, 4), (32, 16), (128, 8), (32, 32)])
def test_swizzle_ldmatrix_phases_are_conflict_free(rows, chunks):
    """ldmatrix reads 8 rows at one logical chunk per phase: 8 different 16-byte bank
    groups (of the 8 in 128 bytes) means no bank conflict."""
    for r0 in range(0, rows, 8):
        for c in range(chunks):
            groups = {
                ((r0 + i) * chunks + C._gemm_swizzle_chunk(r0 + i, c, chunks)) % 8 for i in range(8)
            }
            assert len(groups) == 8, (r0, c)


@pytest.mark.parametrize("rows,chunks,vec", [(128, 4, 8), (32, 16, 8), (128, 8, 4), (32, 32, 4)])
def test_swizzle_offset_splits_at_block_origins(rows, chunks, vec):
    """The kernels split offsets into an origin (row0 a multiple of 8, col0 a multiple of
    the swizzle block) and a lane part; both forms must agree, and the offsets of the
    whole tile must be a permutation."""
    block = min(chunks, 8) * vec
    flat = sorted(
        C._gemm_swizzled_offset(0, 0, r, c, chunks, vec)
        for r in range(rows)
        for c in range(chunks * vec)
    )
    assert flat == list(range(rows * chunks * vec))
    for row0 in range(0, rows, 8):
        for col0 in range(0, chunks * vec, block):
            for r in (0, 3, 7, 8, 13):
                for c in (0, 5, vec, block - 1):
                    if row0 + r >= rows:
                        continue
                    split = C._gemm_swizzled_offset(row0, col0, r, c, chunks, vec)
                    whole = C._gemm_swizzled_offset(0, 0, row0 + r, col0 + c, chunks, vec)
                    assert split == whole, (row0, col0, r, c)


def test_swizzle_tf32_fragment_loads_of_k_contiguous_tiles_are_conflict_free():
    """The TF32 path's scalar loads of a0 (rows lane/4, k lane%4) from a [m][k] tile of
    8 float chunks per row: 32 lanes, 32 banks."""
    banks = set()
    for lane in LANES:
        row, k = C._gemm_tf32_coord(lane, 0, False)
        word = (row * 8 + C._gemm_swizzle_chunk(row, k // 4, 8)) * 4 + k % 4
        banks.add(word % 32)
    assert len(banks) == 32


# ------------------------------------- fragments (the PTX ISA's layouts)


def ptx_a_16816(lane):
    """PTX ISA, mma.m16n8k16 .f16/.bf16 A fragment: register r holds (a_2r, a_2r+1);
    a_i at row group + 8 * (i // 2 % 2), col 2 * tig + i % 2 + 8 * (i // 4)."""
    g, t = lane // 4, lane % 4
    return [
        [(g + 8 * (i // 2 % 2), 2 * t + i % 2 + 8 * (i // 4)) for i in (2 * r, 2 * r + 1)]
        for r in range(4)
    ]


def ptx_b_16816(lane, tile):
    """mma.m16n8k16 B fragment of n8 tile `tile`: b_i at k 2 * tig + i % 2 + 8 * (i // 2),
    n group; returned as (n, k) pairs of the two registers."""
    g, t = lane // 4, lane % 4
    return [
        [(8 * tile + g, 2 * t + i % 2 + 8 * (i // 2)) for i in (2 * r, 2 * r + 1)] for r in range(2)
    ]


def simulate_ldmatrix_x4(stored, trans, operand_b, k_contig):
    """What each lane receives from ldmatrix.x4 (.trans) per the PTX ISA: matrix j's rows
    are the 8-element rows lanes 8j..8j+7 point at; without .trans lane t gets row t / 4,
    columns 2 (t % 4) + {0, 1}, with .trans the transposed element pair."""
    rows = []
    for lane in LANES:
        r, c = C._gemm_ldmatrix_coord(lane, operand_b, k_contig)
        rows.append(stored[r, c : c + 8])
    got = []
    for t in LANES:
        regs = []
        for j in range(4):
            mat = np.array(rows[8 * j : 8 * j + 8])
            if trans:
                regs.append([mat[2 * (t % 4), t // 4], mat[2 * (t % 4) + 1, t // 4]])
            else:
                regs.append([mat[t // 4, 2 * (t % 4)], mat[t // 4, 2 * (t % 4) + 1]])
        got.append(regs)
    return got


@pytest.mark.parametrize("k_contig", [True, False])
def test_ldmatrix_addresses_give_the_mma_a_fragment(k_contig):
    # logical A (16 m x 16 k) with value m * 100 + k, stored [m][k] or [k][m].
    logical = np.add.outer(np.arange(16) * 100, np.arange(16))
    stored = logical if k_contig else logical.T
    got = simulate_ldmatrix_x4(stored, not k_contig, False, k_contig)
    for lane in LANES:
        want = [[m * 100 + k for m, k in reg] for reg in ptx_a_16816(lane)]
        assert [list(r) for r in got[lane]] == want, lane


@pytest.mark.parametrize("k_contig", [True, False])
def test_ldmatrix_addresses_give_the_mma_b_fragments(k_contig):
    # logical B^T (16 n x 16 k) with value n * 100 + k: two n8 tiles.
    logical = np.add.outer(np.arange(16) * 100, np.arange(16))
    stored = logical if k_contig else logical.T
    got = simulate_ldmatrix_x4(stored, not k_contig, True, k_contig)
    for lane in LANES:
        want = [[n * 100 + k for n, k in reg] for tile in (0, 1) for reg in ptx_b_16816(lane, tile)]
        assert [list(r) for r in got[lane]] == want, lane


BM = BN = 128
BK = 32
WARP_M, WARP_N = 64, 32  # 8 warps, 2 x 4


def stage_tile(logical, k_contig, vec):
    """A (mn_extent, BK) operand tile as the loader stores it in shared memory: stored
    [mn][k] or [k][mn], each element at its swizzled offset."""
    stored = logical if k_contig else logical.T
    rows, cols = stored.shape
    smem = np.full(rows * cols, -1.0)
    for r in range(rows):
        for c in range(cols):
            smem[C._gemm_swizzled_offset(0, 0, r, c, cols // vec, vec)] = stored[r, c]
    return smem


def ldmatrix_from_smem(smem, offsets, trans):
    """ldmatrix.x4 per the PTX ISA from the 32 lanes' element offsets (8 elements each)."""
    rows = [smem[o : o + 8] for o in offsets]
    out = []
    for t in LANES:
        regs = []
        for j in range(4):
            mat = np.array(rows[8 * j : 8 * j + 8])
            pick = (2 * (t % 4), t // 4) if trans else (t // 4, 2 * (t % 4))
            step = (1, 0) if trans else (0, 1)
            regs.append([mat[pick], mat[pick[0] + step[0], pick[1] + step[1]]])
        out.append(regs)
    return out


@pytest.mark.parametrize("k_contig", [True, False])
@pytest.mark.parametrize("operand_b", [False, True])
def test_warp_fragments_of_a_whole_stage_16bit(k_contig, operand_b):
    """The kernel's shared-memory walk for one stage, emulated: the swizzled tile the loader
    writes, each warp's ldmatrix addresses (tile_offset), the PTX ldmatrix semantics; every
    lane must end up with exactly the operand elements the mma.sync fragment layout asks
    for, for every warp, k step and m/n tile."""
    extent = BN if operand_b else BM
    logical = np.add.outer(np.arange(extent) * 1000.0, np.arange(BK))  # [mn][k]
    smem = stage_tile(logical, k_contig, 8)
    for warp in range(8):
        w = warp % 4 if operand_b else warp // 4
        for ks in (0, 16):
            for t in range((WARP_N if operand_b else WARP_M) // 16):
                mn0 = w * (WARP_N if operand_b else WARP_M) + t * 16
                offs = []
                for lane in LANES:
                    r, c = C._gemm_ldmatrix_coord(lane, operand_b, k_contig)
                    mn, k = (r, c) if k_contig else (c, r)
                    offs.append(C._gemm_tile_offset(k_contig, 8, BK, extent, mn0, mn, ks, k))
                got = ldmatrix_from_smem(smem, offs, not k_contig)
                for lane in LANES:
                    if operand_b:
                        want = [
                            [(mn0 + n) * 1000.0 + ks + k for n, k in reg]
                            for tile in (0, 1)
                            for reg in ptx_b_16816(lane, tile)
                        ]
                    else:
                        want = [
                            [(mn0 + m) * 1000.0 + ks + k for m, k in reg]
                            for reg in ptx_a_16816(lane)
                        ]
                    assert [list(x) for x in got[lane]] == want, (warp, ks, t, lane)


@pytest.mark.parametrize("k_contig", [True, False])
@pytest.mark.parametrize("operand_b", [False, True])
def test_warp_fragments_of_a_whole_stage_tf32(k_contig, operand_b):
    """The same for the TF32 path's scalar loads of float32 tiles."""
    extent = BN if operand_b else BM
    logical = np.add.outer(np.arange(extent) * 1000.0, np.arange(BK))
    smem = stage_tile(logical, k_contig, 4)
    for warp in range(8):
        w = warp % 4 if operand_b else warp // 4
        for ks in range(0, BK, 8):
            for t in range(WARP_N // 8 if operand_b else WARP_M // 16):
                mn0 = w * WARP_N + t * 8 if operand_b else w * WARP_M + t * 16
                for lane in LANES:
                    for i in range(2 if operand_b else 4):
                        rc = C._gemm_tf32_coord(lane, i, operand_b)
                        mn, k = (rc[1], rc[0]) if operand_b else rc
                        off = C._gemm_tile_offset(k_contig, 4, BK, extent, mn0, mn, ks, k)
                        assert smem[off] == (mn0 + mn) * 1000.0 + ks + k


def test_accumulator_coords_match_ptx_and_cover_the_tile():
    seen = set()
    for lane in LANES:
        for i in range(4):
            row, col = C._gemm_acc_coord(lane, i)
            assert (row, col) == (lane // 4 + 8 * (i // 2), 2 * (lane % 4) + i % 2)
            seen.add((row, col))
    assert seen == {(r, c) for r in range(16) for c in range(8)}


def test_tf32_fragment_coords_match_ptx():
    a_seen, b_seen = set(), set()
    for lane in LANES:
        g, t = lane // 4, lane % 4
        for i in range(4):
            rc = C._gemm_tf32_coord(lane, i, False)
            assert rc == (g + 8 * (i % 2), t + 4 * (i // 2))
            a_seen.add(rc)
        for i in range(2):
            kn = C._gemm_tf32_coord(lane, i, True)
            assert kn == (t + 4 * i, g)
            b_seen.add(kn)
    assert a_seen == {(r, k) for r in range(16) for k in range(8)}
    assert b_seen == {(k, n) for k in range(8) for n in range(8)}


@pytest.mark.parametrize("m_tiles,n_tiles", [(1, 1), (8, 8), (13, 5), (3, 17), (33, 32)])
def test_tile_rasterization_visits_every_tile_once_in_groups(m_tiles, n_tiles):
    coords = [C._gemm_tile_coord(i, m_tiles, n_tiles, 8) for i in range(m_tiles * n_tiles)]
    assert sorted(coords) == [(m, n) for m in range(m_tiles) for n in range(n_tiles)]
    first = coords[: min(8, m_tiles) * n_tiles]  # the first group: 8 tile rows, all columns
    assert {m for m, _ in first} == set(range(min(8, m_tiles)))
    with pytest.raises(ValueError):
        C._gemm_tile_coord(m_tiles * n_tiles, m_tiles, n_tiles, 8)


# --------------------------------------------------------------- epilogue


def np_act(x, act):
    if act == "relu":
        return np.where(x < 0, 0.0, x)
    if act == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    if act == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x


@pytest.mark.parametrize("act", ["none", "relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("f64", [False, True])
def test_epilogue_matches_numpy(act, f64, rng):
    n = 500
    acc = rng.normal(0, 3, n)
    old = rng.normal(0, 2, n)
    bias = rng.normal(0, 1, n)
    if not f64:  # the float32 path sees float32 inputs
        acc, old, bias = (v.astype(np.float32).astype(np.float64) for v in (acc, old, bias))
    for alpha, beta, b in ((1.0, 0.0, None), (0.5, 1.5, bias), (-2.0, 1.0, bias)):
        got = np.array(C._gemm_epilogue(acc, old, b, alpha, beta, act, f64))
        want = np_act(alpha * acc + beta * old + (0 if b is None else b), act)
        tol = (1e-13, 1e-14) if f64 else (2e-6, 2e-6)
        np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1])


def test_epilogue_beta_zero_ignores_nan_and_relu_keeps_nan():
    got = C._gemm_epilogue([2.0, -1.0], [math.nan, math.inf], None, 1.0, 0.0, "none")
    assert got == [2.0, -1.0]
    assert math.isnan(C._gemm_epilogue([math.nan], [0.0], None, 1.0, 0.0, "relu")[0])
    with pytest.raises(ValueError, match="unknown activation 'silu'"):
        C._gemm_epilogue([1.0], [0.0], None, 1.0, 0.0, "silu")


# ----------------------------------------------------- argument checks


def test_allow_tf32_flag_reaches_the_extension():
    flags = ember.backends.cuda.matmul
    saved = flags.precision
    try:
        flags.allow_tf32 = True
        assert C._allow_tf32() is True
        ember.set_float32_matmul_precision("highest")
        assert C._allow_tf32() is False
        ember.set_float32_matmul_precision("medium")
        assert C._allow_tf32() is True
    finally:
        flags.precision = saved
    assert C._allow_tf32() is (saved != "highest")


def both(fn_name, arrays, **kw):
    """(CPU error, CUDA error) of the same call on CPU and on fake CUDA tensors."""
    errs = []
    for make in (cpu, fake_cuda):
        mod = _C if make is cpu else C
        try:
            getattr(mod, fn_name)(*[make(a) for a in arrays], **kw)
        except Exception as e:  # noqa: BLE001 - compared below
            errs.append(e)
        else:
            errs.append(None)
    return errs


F = np.float32


@pytest.mark.parametrize(
    "shapes,match",
    [
        (((2, 3), (3, 4), (2, 4)), "expected 3-D"),
        (((1, 2, 3), (1, 4, 5), (1, 2, 5)), r"not aligned \(3 != 4\)"),
        (((2, 2, 3), (1, 3, 5), (2, 2, 5)), "batch sizes differ"),
        (((1, 2, 3), (1, 3, 5), (1, 2, 4)), r"out has shape \(1, 2, 4\), expected \(1, 2, 5\)"),
    ],
)
def test_shape_errors_match_the_cpu(shapes, match):
    arrays = [np.ones(s, F) for s in shapes]
    for fn in ("gemm", "matmul"):
        cpu_err, cuda_err = both(fn, arrays)
        assert type(cuda_err) is type(cpu_err) is ValueError
        assert str(cuda_err) == str(cpu_err)
        assert re.search(match, str(cuda_err)) and str(cuda_err).startswith("ember.matmul")


def test_dtype_bias_activation_and_layout_errors():
    a, b, out = (fake_cuda(np.ones(s, F)) for s in ((1, 2, 3), (1, 3, 4), (1, 2, 4)))
    with pytest.raises(TypeError, match=r"ember.matmul: unsupported dtypes \(a float64"):
        C.gemm(fake_cuda(np.ones((1, 2, 3))), b, out)
    with pytest.raises(TypeError, match="unsupported dtypes"):
        C.gemm(
            fake_cuda(np.ones((1, 2, 3), np.int32)), fake_cuda(np.ones((1, 3, 4), np.int32)), out
        )
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(4,\)"):
        C.gemm(a, b, out, bias=fake_cuda(np.ones(3, F)))
    with pytest.raises(TypeError, match="bias has dtype float64, expected float32"):
        C.gemm(a, b, out, bias=fake_cuda(np.ones(4)))
    with pytest.raises(ValueError, match="must be contiguous"):
        C.gemm(a, b, out, bias=fake_cuda(np.ones(8, F)[::2]))
    with pytest.raises(TypeError, match="bias must be a TensorImpl or None, got int"):
        C.gemm(a, b, out, bias=3)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        C.gemm(a, b, out, activation="tanh")
    strided_out = fake_cuda(np.ones((1, 2, 8), F)[:, :, ::2])
    with pytest.raises(ValueError, match="needs unit stride in its last dimension"):
        C.gemm(a, b, strided_out)
    with pytest.raises(ValueError, match="a is on cpu, expected cuda"):
        C.gemm(cpu(np.ones((1, 2, 3), F)), b, out)
    with pytest.raises(ValueError, match="bias is on cpu, expected cuda"):
        C.gemm(a, b, out, bias=cpu(np.ones(4, F)))
    with pytest.raises(TypeError, match="expected float32 or float64"):
        bf = np.ones((1, 2, 3), np.uint16)
        C.matmul(fake_cuda(bf), fake_cuda(np.ones((1, 3, 4), np.uint16)), out)
    with pytest.raises(ValueError, match="contiguous"):
        C.matmul(fake_cuda(np.ones((1, 3, 2), F).transpose(0, 2, 1)), b, out)


def test_overlapping_out_is_rejected():
    buf = np.ones((1, 4, 4), F)
    x = fake_cuda(buf)
    with pytest.raises(ValueError, match="ember.matmul"):
        C.gemm(x, x, x)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_valid_arguments_reach_the_device_check():
    a, b, out = (fake_cuda(np.ones(s, F)) for s in ((1, 2, 3), (1, 3, 4), (1, 2, 4)))
    with pytest.raises(RuntimeError, match="ember.matmul: no CUDA GPU"):
        C.gemm(a, b, out, 1.0, 0.5, fake_cuda(np.ones(4, F)), "gelu")
    bf = [fake_cuda(np.ones(s, np.uint16)) for s in ((1, 2, 3), (1, 3, 4))]
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        C.gemm(bf[0].view_as_dtype(F16), bf[1].view_as_dtype(F16), out)


# ------------------------------------------------------------- on a GPU

NP_STORE = {F32: np.float32, F64: np.float64, F16: np.float16, BF16: np.uint16}


def encode(x, code):
    """float64 values -> storage array of dtype code (bf16: truncated bit patterns)."""
    if code == BF16:
        return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return x.astype(NP_STORE[code])


def decode(s, code):
    if code == BF16:
        return (s.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return s.astype(np.float64)


def operand(rng, batch, rows, cols, code, layout, pad=None, offset=0, bcast=False):
    """Random (batch, rows, cols) values and a flat buffer holding them with the given
    layout ('row': cols contiguous, 'col': rows contiguous), lines `pad` elements longer
    than needed (default: rounded up to 8 elements, so 16-byte aligned), `offset`
    elements in, batch stride 0 when bcast. Returns (values, flat, shape, strides,
    offset); the rest of the buffer is junk the GEMM must not read."""
    ld = cols if layout == "row" else rows
    ld += -ld % 8 if pad is None else pad
    s_r, s_c = (ld, 1) if layout == "row" else (1, ld)
    s_b = 0 if bcast else ld * (rows if layout == "row" else cols)
    size = offset + s_b * (batch - 1) + s_r * (rows - 1) + s_c * (cols - 1) + 1
    flat = encode(rng.normal(0, 100, max(size, 1)), code)
    vals = decode(encode(rng.normal(0, 1, (1 if bcast else batch, rows, cols)), code), code)
    vals = np.broadcast_to(vals, (batch, rows, cols))
    idx = offset + np.add.outer(
        np.add.outer(np.arange(batch) * s_b, np.arange(rows) * s_r), np.arange(cols) * s_c
    )
    if rows and cols and batch:
        flat[idx] = encode(vals, code)
    return vals, flat, [batch, rows, cols], [s_b, s_r, s_c], offset


def device_view(op):
    _, flat, shape, strides, offset = op
    return upload(flat).as_strided(shape, strides, offset)


def host_view(op):
    _, flat, shape, strides, offset = op
    return cpu(flat).as_strided(shape, strides, offset)


def run_case(
    rng,
    b,
    m,
    n,
    k,
    code,
    out_code,
    *,
    la="row",
    lb="row",
    pad=None,
    offset=0,
    bcast=False,
    alpha=1.0,
    beta=0.0,
    bias=False,
    act="none",
    tf32=False,
):
    A = operand(rng, b, m, k, code, la, pad, offset)
    B = operand(rng, b, k, n, code, lb, pad, offset, bcast)
    # The path the plan takes (device buffers are at least 16-byte aligned): aligned
    # operands must reach the tensor cores.
    size = np.dtype(NP_STORE[code]).itemsize
    p = C._gemm_plan(b, m, n, k, code, A[3], B[3], offset * size, offset * size, tf32)
    if pad is None and offset == 0:
        want = {F64: "simt", F32: "tf32" if tf32 else "simt"}.get(code, "tensor_core")
        assert p["path"] == want
    # beta == 0: out starts as NaN, which must not be read.
    old = rng.normal(0, 1, (b, m, n)) if beta else np.full((b, m, n), np.nan)
    out_host = encode(old, out_code)
    old = decode(out_host, out_code)
    bias_host = encode(rng.normal(0, 1, n), out_code) if bias else None
    d_out = upload(out_host)
    flags = ember.backends.cuda.matmul
    saved = flags.precision
    flags.allow_tf32 = tf32
    try:
        C.gemm(
            device_view(A),
            device_view(B),
            d_out,
            alpha,
            beta,
            upload(bias_host) if bias else None,
            act,
        )
    finally:
        flags.precision = saved
    got = decode(download(d_out), out_code)

    bias_vals = decode(bias_host, out_code) if bias else 0.0
    prod = A[0] @ B[0]
    want = np_act(alpha * prod + (beta * old if beta else 0) + bias_vals, act)
    scale = abs(alpha) * (np.abs(A[0]) @ np.abs(B[0])) + abs(beta * old if beta else 0)
    scale = scale + np.abs(bias_vals)
    rel = {F64: 4e-16, F32: 1.2e-7, F16: 1.2e-7, BF16: 1.2e-7}[code] * (k + 4)
    if tf32:
        rel += 2.0**-10
    out_rel = {F64: 2e-16, F32: 1.2e-7, F16: 2.0**-11, BF16: 2.0**-8}[out_code]
    tol = 2 * (rel * scale + out_rel * np.abs(want)) + 1e-30
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) - tol)

    cpu_ok = (code, out_code) in ((F32, F32), (F64, F64), (BF16, F32)) and not tf32
    if cpu_ok:  # ember's CPU GEMM on the same inputs
        ref_host = out_host.copy()
        _C.gemm(
            host_view(A),
            host_view(B),
            cpu(ref_host),
            alpha,
            beta,
            cpu(bias_host) if bias else None,
            act,
        )
        ref = decode(ref_host, out_code)
        assert np.all(np.abs(got - ref) <= tol)


SHAPES = [
    (1, 1, 1, 1),
    (1, 7, 5, 3),
    (2, 129, 131, 67),
    (3, 128, 256, 64),
    (1, 257, 1, 509),
    (1, 1, 300, 17),
    (2, 64, 97, 1),
    (1, 33, 40, 0),
    (1, 300, 260, 200),
]
PATHS = [  # (input dtype, out dtype, tf32)
    (BF16, F32, False),
    (BF16, BF16, False),
    (F16, F32, False),
    (F16, F16, False),
    (F32, F32, True),
    (F32, F32, False),
    (F64, F64, False),
]


@pytest.mark.cuda
@on_gpu
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("path", PATHS, ids=str)
@pytest.mark.parametrize("layouts", [("row", "row"), ("col", "col"), ("row", "col")], ids=str)
def test_gemm_paths_on_awkward_shapes(rng, shape, path, layouts):
    code, out_code, tf32 = path
    run_case(
        rng,
        *shape,
        code,
        out_code,
        la=layouts[0],
        lb=layouts[1],
        tf32=tf32,
    )


@pytest.mark.cuda
@on_gpu
@pytest.mark.parametrize("path", PATHS, ids=str)
@pytest.mark.parametrize(
    "kw",
    [
        {"alpha": 0.5, "beta": 1.5, "bias": True, "act": "gelu"},
        {"alpha": -1.0, "beta": 1.0, "act": "relu"},
        {"bias": True, "act": "gelu_tanh", "bcast": True},
        {"pad": 1, "offset": 1},  # misaligned rows and base: the SIMT fallback
        {"pad": 8, "offset": 8, "bcast": True, "beta": 2.0},
    ],
    ids=str,
)
def test_gemm_epilogues_strides_and_alignment(rng, path, kw):
    code, out_code, tf32 = path
    run_case(rng, 3, 70, 45, 37, code, out_code, tf32=tf32, **kw)


@pytest.mark.cuda
@on_gpu
def test_matmul_binding_and_tensor_api(rng):
    a = rng.standard_normal((2, 37, 29)).astype(np.float32)
    b = rng.standard_normal((2, 29, 41)).astype(np.float32)
    out = C.empty([2, 37, 41], F32)
    C.matmul(upload(a), upload(b), out)
    np.testing.assert_allclose(download(out), a @ b, rtol=1e-4, atol=1e-4)
    x, w = ember.tensor(a[0]).cuda(), ember.tensor(b[0]).cuda()
    np.testing.assert_allclose((x @ w).cpu().numpy(), a[0] @ b[0], rtol=1e-4, atol=1e-4)
    y = (x.bfloat16() @ w.bfloat16()).float().cpu().numpy()
    np.testing.assert_allclose(y, a[0] @ b[0], rtol=3e-2, atol=5e-2)
