"""CUDA flash attention (ember._C_cuda.attention_forward / attention_backward).

Without a GPU: the tiling plan (tile sizes, shared memory per configuration), which
(query tile, key tile) pairs each pass visits under causal masking on awkward lengths (masks
change no tile choice: they are read per element), what each block of a launch owns (GQA
head map, varlen work items), the online-softmax step against numpy float64, and every
argument check with "fake" CUDA tensors. With a GPU (`-m cuda`): the kernels against
ember's CPU kernels on the same inputs (layouts, masks, causal, GQA, Tq != Tk, varlen,
float32 / float64 / float16 / bfloat16) and through the Python op with autograd.
"""

import math

import ember._C as _C
import numpy as np
import pytest
from test_cuda import BF16, F16, F32, F64, cpu, download, fake_cuda, needs_ext, no_gpu

import ember

try:
    import ember._C_cuda as C
except ImportError:
    C = None

HAS_GPU = ember.cuda.is_available()
GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]
FLOATS = [F32, F64, F16, BF16]
PASSES = ["forward", "grad_q", "grad_kv"]
LENGTHS = [1, 2, 7, 31, 32, 33, 61, 64, 97, 130]
pytestmark = needs_ext


# ------------------------------------------------------------- plan (no GPU)


@pytest.mark.parametrize("code", FLOATS)
@pytest.mark.parametrize("d", [1, 5, 32, 33, 63, 64, 65, 100, 128, 129, 200, 256])
def test_plan_fits_the_budget_and_is_maximal(code, d):
    plan = C._attention_plan(d, code)
    kd = plan["head_dim"]
    assert kd == min(x for x in (32, 64, 128, 256) if x >= d)
    assert plan["threads"] == plan["rows"] * plan["lanes"] == 256
    if code == F64 and d > 128:  # float64 tiles of 256 columns do not fit
        assert not plan["supported"]
        return
    assert plan["supported"]
    elem = {F32: 4, F64: 8, F16: 2, BF16: 2}[code]
    assert (plan["pitch"] * elem) % 4 == 0 and plan["pitch"] > kd  # padded by one bank
    assert plan["forward_mma"] == (code in (F16, BF16) and kd <= 128)
    if plan["forward_mma"]:  # tensor cores: Q (32) + K, V (64) rows at a 16-byte-padded pitch
        assert plan["forward_tile"] == 64 and plan["forward_threads"] == 64
        pitch = plan["forward_pitch"]
        words = pitch * 2 // 4  # a fragment load: 8 rows x 4 words hit 32 distinct banks
        banks = {(g * words + t) % 32 for g in range(8) for t in range(4)}
        assert pitch == kd + 8 and len(banks) == 32
        assert plan["forward_smem"] == (32 + 128) * pitch * 2 <= plan["smem_budget"]
    assert plan["backward_mma"] == plan["forward_mma"]  # its plan: test_cuda_attention_bwd_mma
    for p in PASSES:
        if plan["forward_mma"]:
            continue
        tile, smem = plan[f"{p}_tile"], plan[f"{p}_smem"]
        assert tile in (8, 16, 32, 64)
        assert smem == C._attention_smem(p, kd, code, tile) <= plan["smem_budget"]
        if tile < 64:  # the next larger tile would not fit
            assert C._attention_smem(p, kd, code, 2 * tile) > plan["smem_budget"]


def test_plan_smem_formula():
    # float32, D = 64: pitch 65; forward Q (32) + K, V (64) rows and a 32 x 64 P tile.
    assert C._attention_smem("forward", 64, F32, 64) == (32 + 128) * 65 * 4 + 32 * 64 * 4
    # dQ adds dO rows; dK/dV adds a second tile and lse / delta of the streamed tile.
    assert C._attention_smem("grad_q", 64, F32, 32) == (64 + 64) * 65 * 4 + 32 * 32 * 4
    assert C._attention_smem("grad_kv", 64, F32, 32) == (64 + 64) * 65 * 4 + 2 * 32 * 32 * 4 + 256
    # bfloat16: half the operand bytes, float32 tiles, pitch padded by two elements.
    assert C._attention_smem("forward", 128, BF16, 64) == (32 + 128) * 130 * 2 + 32 * 64 * 4


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="not a floating dtype"):
        C._attention_plan(64, 3)
    with pytest.raises(ValueError, match="unknown pass 'backward'"):
        C._attention_smem("backward", 64, F32, 32)
    with pytest.raises(ValueError, match="no kernels for D = 200"):
        C._attention_visits("forward", 4, 4, 200, F64, False)
    assert not C._attention_plan(0, F32)["supported"]
    assert not C._attention_plan(257, F32)["supported"]


# ------------------------------------------------ tiles visited (no GPU)


def visible_pairs(tq, tk, causal):
    i, j = np.meshgrid(np.arange(tq), np.arange(tk), indexing="ij")
    return (j <= i) if causal else np.ones((tq, tk), bool)


@pytest.mark.parametrize("p", PASSES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d, code", [(64, F32), (256, F32), (128, F64), (100, BF16)])
def test_every_visible_pair_is_covered_exactly_once(p, causal, d, code):
    for tq in LENGTHS:
        for tk in (1, 3, 32, 61, 97, 130):
            seen = np.zeros((tq, tk), np.int64)
            visits = C._attention_visits(p, tq, tk, d, code, causal)
            for q0, q1, k0, k1 in visits:
                assert 0 <= q0 < q1 <= tq and 0 <= k0 < k1 <= tk
                seen[q0:q1, k0:k1] += 1
            vis = visible_pairs(tq, tk, causal)
            assert seen.max() == 1 and (seen[vis] == 1).all(), (p, tq, tk)
            # Causal: no tile is visited whose pairs are all masked (those are skipped).
            assert all(vis[q0:q1, k0:k1].any() for q0, q1, k0, k1 in visits), (p, tq, tk)


def test_causal_skips_the_upper_triangle_tiles():
    tq = tk = 257
    for p in PASSES:
        full = len(C._attention_visits(p, tq, tk, 64, F32, False))
        causal = len(C._attention_visits(p, tq, tk, 64, F32, True))
        assert causal < 0.7 * full, p


def test_tile_order_streams_key_tiles_in_order():
    v = C._attention_visits("forward", 70, 130, 64, F32, False)
    rows = sorted({(q0, q1) for q0, q1, _, _ in v})
    assert rows == [(0, 32), (32, 64), (64, 70)]
    for r in rows:
        ks = [k0 for q0, q1, k0, _ in v if (q0, q1) == r]
        assert ks == sorted(ks) and ks[0] == 0


# ------------------------------------------------ tensor-core fragments (no GPU)


def test_mma_fragments_cover_their_tiles_once():
    lay = C._attention_mma_layout()
    for name, shape, n in (("a", (16, 16), 8), ("b", (16, 8), 4), ("c", (16, 8), 4)):
        seen = np.zeros(shape, np.int64)
        for lane in range(32):
            assert len(lay[name][lane]) == n
            for r, c in lay[name][lane]:
                seen[r, c] += 1
        assert (seen == 1).all(), name


def test_mma_register_pairs_are_adjacent_in_memory():
    lay = C._attention_mma_layout()
    for lane in range(32):
        a, b = lay["a"][lane], lay["b"][lane]
        for r in range(4):  # A: one row of Q, two adjacent (even-aligned) columns
            assert a[2 * r + 1] == (a[2 * r][0], a[2 * r][1] + 1) and a[2 * r][1] % 2 == 0
        for r in range(2):  # B of Q K^T: one key row (n), two adjacent (even-aligned) dims (k)
            assert b[2 * r + 1] == (b[2 * r][0] + 1, b[2 * r][1]) and b[2 * r][0] % 2 == 0


def test_p_fragments_come_from_the_same_lanes_s_accumulators():
    lay = C._attention_mma_layout()
    for lane in range(32):
        for kb, e, blk, el in lay["p"][lane]:
            ra, ca = lay["a"][lane][e]  # P[row, 16 kb + ca] as the A operand
            rc, cc = lay["c"][lane][el]  # S[row, 8 blk + cc] in this lane's accumulators
            assert (ra, 16 * kb + ca) == (rc, 8 * blk + cc)


# ------------------------------------------------------ blocks, GQA (no GPU)


@pytest.mark.parametrize("b, hq, hkv", [(1, 1, 1), (2, 6, 2), (3, 4, 4), (1, 8, 1)])
@pytest.mark.parametrize("tq, tk", [(1, 1), (33, 7), (5, 65), (97, 97)])
def test_blocks_cover_every_head_and_tile_once(b, hq, hkv, tq, tk):
    fwd = C._attention_blocks("forward", b, hq, hkv, tq, tk)
    assert fwd == C._attention_blocks("grad_q", b, hq, hkv, tq, tk)
    owned = sorted((bb, h, q0) for bb, h, q0, _ in fwd)
    want = sorted((bb, h, q0) for bb in range(b) for h in range(hq) for q0 in range(0, tq, 32))
    assert owned == want
    assert all(hk == h // (hq // hkv) for _, h, _, hk in fwd)
    # Within a head, the last (longest under causal) tile comes first.
    assert [q0 for bb, h, q0, _ in fwd[: math.ceil(tq / 32)]] == list(range(0, tq, 32))[::-1]

    kv = C._attention_blocks("grad_kv", b, hq, hkv, tq, tk)
    owned = sorted((bb, hk, k0) for bb, hk, k0, _ in kv)
    want = sorted((bb, hk, k0) for bb in range(b) for hk in range(hkv) for k0 in range(0, tk, 32))
    assert owned == want
    for _, hk, _, heads in kv:  # each kv head sums exactly the q heads that read it
        assert heads == [h for h in range(hq) if h // (hq // hkv) == hk]


@pytest.mark.parametrize("cu", [[0], [0, 0], [0, 1], [0, 5, 5, 70, 71, 200], [0, 32, 64, 97]])
def test_varlen_items_cover_each_sequence_once(cu):
    items = C._attention_varlen_items(cu)
    want = [(s, t) for s in range(len(cu) - 1) for t in range(math.ceil((cu[s + 1] - cu[s]) / 32))]
    assert sorted(items) == want
    for s in range(len(cu) - 1):  # per sequence, the last tile first
        ts = [t for ss, t in items if ss == s]
        assert ts == sorted(ts, reverse=True)


# ------------------------------------------------ online softmax (no GPU)


def softmax_ref(s, v):
    s = np.asarray(s, np.float64)
    if np.all(np.isneginf(s)):
        return np.zeros(v.shape[1]), math.inf
    m = s.max()
    e = np.exp(s - m)
    return e @ v / e.sum(), m + math.log(e.sum())


@pytest.mark.parametrize("f64", [False, True])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 129])
@pytest.mark.parametrize("tile", [1, 3, 8, 64])
def test_online_softmax_step_matches_float64(rng, f64, n, tile):
    s = rng.normal(0, 4, n)
    s[rng.random(n) < 0.3] = -math.inf  # masked keys, also leading ones
    s[-1] = 20.0 * rng.random()  # the max may come late: earlier tiles get rescaled
    v = rng.normal(0, 1, (n, 5))
    out, lse = C._attention_online_softmax(list(s), v.tolist(), tile, f64)
    want, want_lse = softmax_ref(s, v)
    tol = 1e-12 if f64 else 2e-6
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(lse, want_lse, rtol=tol)  # in the accumulation type


def test_online_softmax_fully_masked_row():
    out, lse = C._attention_online_softmax([-math.inf] * 5, [[1.0, 2.0]] * 5, 2, False)
    assert out == [0.0, 0.0] and lse == math.inf
    out, lse = C._attention_online_softmax([], [], 4, True)
    assert out == [] and lse == math.inf


# ------------------------------------------------ argument checks (no GPU)


def fake(shape, dtype=np.float32):
    return fake_cuda(np.zeros(shape, dtype))


def fwd_args(**over):
    a = dict(
        query=fake((2, 4, 5, 8)),
        key=fake((2, 2, 7, 8)),
        value=fake((2, 2, 7, 8)),
        attn_mask=None,
        out=fake((2, 4, 5, 8)),
        lse=fake((2, 4, 5)),
        is_causal=False,
        scale=0.3,
    )
    a.update(over)
    return a


def bwd_args(**over):
    a = fwd_args()
    a.update(
        grad_out=fake((2, 4, 5, 8)),
        grad_query=fake((2, 4, 5, 8)),
        grad_key=fake((2, 2, 7, 8)),
        grad_value=fake((2, 2, 7, 8)),
    )
    a.update(over)
    return a


OP = "ember.scaled_dot_product_attention"
FWD_ERRORS = [
    (dict(query=cpu(np.zeros((2, 4, 5, 8), np.float32))), ValueError, "query is on cpu"),
    (dict(query=fake((4, 5, 8))), ValueError, r"expected a 4-D query \(B, Hq, Tq, D\)"),
    (dict(query=fake((2, 4, 5, 8), np.int32)), TypeError, "query has dtype int32, expected"),
    (dict(key=fake((2, 2, 7, 8), np.float64)), TypeError, "must have one dtype"),
    (dict(key=fake((2, 2, 7, 6))), ValueError, "mismatched head dims"),
    (dict(value=fake((3, 2, 7, 8))), ValueError, "batch sizes differ"),
    (dict(value=fake((2, 2, 6, 8))), ValueError, r"key \(2, 2, 7, 8\) and value"),
    (dict(key=fake((2, 3, 7, 8)), value=fake((2, 3, 7, 8))), ValueError, "multiple of key/value"),
    (dict(out=fake((2, 4, 5, 9))), ValueError, r"out has shape \(2, 4, 5, 9\)"),
    (dict(out=fake((2, 4, 5, 8), np.float64)), TypeError, "out has dtype float64"),
    (dict(lse=fake((2, 4, 5), np.float64)), TypeError, "lse has dtype float64, expected float32"),
    (dict(lse=fake((2, 4, 6))), ValueError, r"lse has shape \(2, 4, 6\)"),
    (dict(attn_mask=fake((1, 1, 1, 7), np.float64)), TypeError, "expected bool or float32"),
    (dict(attn_mask=fake((1, 1, 2, 7), np.bool_)), ValueError, "does not broadcast"),
    (dict(attn_mask=fake((1, 7), np.bool_)), ValueError, "does not broadcast"),
]


@no_gpu
@pytest.mark.parametrize("over, exc, msg", FWD_ERRORS)
def test_forward_argument_checks(over, exc, msg):
    with pytest.raises(exc, match=f"{OP}: .*{msg}|{OP}: {msg}"):
        C.attention_forward(**fwd_args(**over))
    with pytest.raises(exc, match=f"{OP}: .*{msg}|{OP}: {msg}"):
        C.attention_backward(**bwd_args(**over))


@no_gpu
def test_head_dim_and_layout_checks():
    big = dict(query=fake((1, 1, 2, 257)), key=fake((1, 1, 2, 257)), value=fake((1, 1, 2, 257)))
    big.update(out=fake((1, 1, 2, 257)), lse=fake((1, 1, 2)))
    with pytest.raises(ValueError, match=r"head dim D = 257 .* expected 1 <= D <= 256"):
        C.attention_forward(**fwd_args(**big))
    f64 = {k: fake((1, 1, 2, 129), np.float64) for k in ("query", "key", "value", "out")}
    with pytest.raises(ValueError, match="D = 129 .* not supported for float64 on CUDA"):
        C.attention_forward(**fwd_args(**f64, lse=fake((1, 1, 2), np.float64)))
    q = fake((2, 5, 4, 8)).as_strided([2, 4, 5, 8], [160, 1, 32, 4], 0)  # D not unit stride
    with pytest.raises(ValueError, match="needs unit stride along the head dim"):
        C.attention_forward(**fwd_args(query=q))


@no_gpu
def test_overlap_and_backward_checks():
    q = fake((2, 4, 5, 8))
    with pytest.raises(ValueError, match="out of shape .* overlaps query"):
        C.attention_forward(**fwd_args(query=q, out=q))
    with pytest.raises(ValueError, match=r"grad_key has shape \(2, 2, 6, 8\)"):
        C.attention_backward(**bwd_args(grad_key=fake((2, 2, 6, 8))))
    with pytest.raises(TypeError, match="grad_out has dtype float64"):
        C.attention_backward(**bwd_args(grad_out=fake((2, 4, 5, 8), np.float64)))
    g = fake((2, 2, 7, 8))
    with pytest.raises(ValueError, match="overlap"):
        C.attention_backward(**bwd_args(grad_key=g, grad_value=g))


@no_gpu
@pytest.mark.parametrize("code", FLOATS)
def test_valid_arguments_reach_the_device(code):
    np_t = {F32: np.float32, F64: np.float64, F16: np.float16, BF16: np.float16}[code]

    def t(shape):
        x = fake(shape, np_t)
        return x.view_as_dtype(BF16) if code == BF16 else x

    acc = np.float64 if code == F64 else np.float32  # additive masks and lse
    for mask in (None, fake((2, 1, 1, 7), np.bool_), fake((1, 4, 5, 7), acc)):
        a = fwd_args(
            query=t((2, 4, 5, 8)),
            key=t((2, 2, 7, 8)),
            value=t((2, 2, 7, 8)),
            out=t((2, 4, 5, 8)),
            lse=fake((2, 4, 5), acc),
            attn_mask=mask,
            is_causal=True,
        )
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            C.attention_forward(**a)
        a.update(
            grad_out=t((2, 4, 5, 8)),
            grad_query=t((2, 4, 5, 8)),
            grad_key=t((2, 2, 7, 8)),
            grad_value=t((2, 2, 7, 8)),
        )
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            C.attention_backward(**a)


VARLEN = "ember.nn.functional.varlen_attention"


def varlen_args(**over):
    a = dict(
        query=fake((1, 4, 9, 8)),
        key=fake((1, 2, 11, 8)),
        value=fake((1, 2, 11, 8)),
        cu_seqlens_q=cpu(np.array([0, 4, 9], np.int64)),
        cu_seqlens_k=cpu(np.array([0, 0, 11], np.int64)),
        out=fake((1, 4, 9, 8)),
        lse=fake((1, 4, 9)),
        is_causal=True,
        scale=0.5,
    )
    a.update(over)
    return a


def cu(*v):
    return cpu(np.array(v, np.int64))


@no_gpu
@pytest.mark.parametrize(
    "over, exc, msg",
    [
        (
            dict(cu_seqlens_q=cu(0, 4, 8)),
            ValueError,
            "must start at 0 and end at the packed length 9",
        ),
        (dict(cu_seqlens_q=cu(0, 10, 9)), ValueError, "must be non-decreasing"),
        (dict(cu_seqlens_q=cpu(np.array([0, 9], np.int32))), TypeError, "cu_seqlens_q"),
        (dict(cu_seqlens_k=cu(0, 11)), ValueError, "must count the same sequences"),
        (dict(cu_seqlens_k=fake((3,), np.int64)), ValueError, "cu_seqlens_k is on cuda"),
        (
            {k: fake((2, 4, 9, 8)) for k in ("query", "out")} | dict(lse=fake((2, 4, 9))),
            ValueError,
            "batch sizes differ|batch-1 views",
        ),
    ],
)
def test_varlen_argument_checks(over, exc, msg):
    with pytest.raises(exc, match=f"ember.*: .*({msg})"):
        C.attention_varlen_forward(**varlen_args(**over))
    grads = dict(
        grad_out=fake((1, 4, 9, 8)),
        grad_query=fake((1, 4, 9, 8)),
        grad_key=fake((1, 2, 11, 8)),
        grad_value=fake((1, 2, 11, 8)),
    )
    with pytest.raises(exc, match=f"ember.*: .*({msg})"):
        C.attention_varlen_backward(**varlen_args(**over), **grads)


@no_gpu
def test_varlen_valid_arguments_reach_the_device():
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        C.attention_varlen_forward(**varlen_args())
    grads = dict(
        grad_out=fake((1, 4, 9, 8)),
        grad_query=fake((1, 4, 9, 8)),
        grad_key=fake((1, 2, 11, 8)),
        grad_value=fake((1, 2, 11, 8)),
    )
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        C.attention_varlen_backward(**varlen_args(), **grads)


# ------------------------------------------------------------- with a GPU

NP = {F32: np.float32, F64: np.float64}


def to_bits(a, code):
    """float array -> the dtype's storage (float16, or bfloat16 bits as uint16)."""
    if code == F16:
        return a.astype(np.float16)
    if code == BF16:  # round to nearest even
        b = a.astype(np.float32).view(np.uint32)
        return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return a.astype(NP[code])


def from_bits(a, code):
    if code == BF16:
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32) if code == F16 else a


def device_view(arr, code, layout):
    """A (B, H, T, D) CUDA view of arr (given as B, H, T, D) stored in the layout."""
    store = arr if layout == "BHTD" else np.ascontiguousarray(arr.transpose(0, 2, 1, 3))
    bits = to_bits(store, code)
    d = C.empty(list(bits.shape), code, 0)
    C.copy(cpu(bits), d)
    if layout == "BHTD":
        return d
    s = d.strides
    b, t, h, dh = d.shape
    return d.as_strided([b, h, t, dh], [s[0], s[2], s[1], s[3]], d.offset)


def device_empty(shape, code, layout):
    return device_view(np.zeros(shape), code, layout)


def host_bhtd(d, code):
    """A CUDA (B, H, T, D) view back as a float numpy array."""
    c = C.empty(list(d.shape), d.dtype, 0)
    C.copy(d, c)
    return from_bits(download(c), code)


def cpu_reference(q, k, v, mask, causal, scale, dtype, go=None):
    """ember's CPU kernels on the same values (float32 for the 16-bit dtypes)."""
    t = NP.get(dtype, np.float32)
    qc, kc, vc = (cpu(np.ascontiguousarray(x, t)) for x in (q, k, v))
    acc = F64 if t == np.float64 else F32
    out = _C.TensorImpl.empty(list(q.shape), acc)
    lse = _C.TensorImpl.empty(list(q.shape[:3]), acc)
    m = None if mask is None else cpu(mask.astype(np.bool_ if mask.dtype == bool else t))
    _C.attention_forward(qc, kc, vc, m, out, lse, causal, scale)
    res = [np.asarray(out).copy(), np.asarray(lse).copy()]
    if go is not None:
        grads = [_C.TensorImpl.empty(list(x.shape), out.dtype) for x in (q, k, v)]
        _C.attention_backward(
            cpu(np.ascontiguousarray(go, t)), qc, kc, vc, m, out, lse, *grads, causal, scale
        )
        res += [np.asarray(g).copy() for g in grads]
    return res


TOLS = {
    F32: dict(rtol=2e-4, atol=2e-5),
    # float64 end to end, lse included (measured under the emulator: out 1.3e-15, lse
    # 1.8e-15, gradients 4.0e-15 at most, values up to ~7).
    F64: dict(rtol=1e-12, atol=1e-13),
    F16: dict(rtol=1e-2, atol=3e-3),
    BF16: dict(rtol=3e-2, atol=2e-2),
}
# Gradients: 5x the forward's.
GRAD_TOLS = {c: dict(rtol=5 * t["rtol"], atol=5 * t["atol"]) for c, t in TOLS.items()}
# lse: float32 for every dtype but float64.
LSE_TOLS = {c: dict(rtol=1e-5, atol=1e-5) for c in TOLS} | {F64: TOLS[F64]}

CASES = [  # B, Hq, Hkv, Tq, Tk, D, causal, mask
    (1, 1, 1, 1, 1, 1, False, None),
    (2, 3, 3, 7, 13, 5, False, None),
    (1, 2, 2, 33, 33, 64, True, None),
    (2, 4, 2, 61, 97, 40, True, None),
    (1, 6, 2, 97, 31, 128, False, "bool_keys"),
    (2, 2, 1, 130, 65, 72, True, "additive"),
    (1, 2, 2, 17, 70, 256, False, "bool_rows"),
    (1, 1, 1, 129, 257, 200, True, None),
]


def make_mask(kind, rng, b, hq, tq, tk, code):
    if kind is None:
        return None
    if kind == "bool_keys":  # key padding (B, 1, 1, Tk); the last batch hides every key
        m = rng.random((b, 1, 1, tk)) < 0.7
        m[-1] = False
        return m
    if kind == "bool_rows":
        return rng.random((b, hq, tq, tk)) < 0.5
    return rng.normal(0, 1, (1, hq, tq, tk)).astype(np.float64 if code == F64 else np.float32)


@pytest.mark.parametrize("code", FLOATS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
class TestAgainstCpu:
    pytestmark = GPU

    def test_forward_backward(self, rng, code, case, layout):
        b, hq, hkv, tq, tk, d, causal, kind = case
        if code == F64 and d > 128:
            pytest.skip("float64 runs head dims up to 128 on CUDA")
        vals = [rng.normal(0, 1, s) for s in ((b, hq, tq, d), (b, hkv, tk, d), (b, hkv, tk, d))]
        go = rng.normal(0, 1, (b, hq, tq, d))
        # The values the device sees (16-bit rounding), so both sides start equal.
        vals = [from_bits(to_bits(x, code), code).astype(np.float64) for x in vals]
        go = from_bits(to_bits(go, code), code).astype(np.float64)
        mask = make_mask(kind, rng, b, hq, tq, tk, code)
        scale = 0.7 / math.sqrt(d)
        q, k, v = (device_view(x, code, layout) for x in vals)
        out = device_empty((b, hq, tq, d), code, layout)
        lse = C.empty([b, hq, tq], F64 if code == F64 else F32, 0)
        dm = None
        if mask is not None:
            dm = C.empty(
                list(mask.shape), 0 if mask.dtype == bool else (F64 if code == F64 else F32), 0
            )
            C.copy(cpu(mask), dm)
        C.attention_forward(q, k, v, dm, out, lse, causal, scale)
        ref_out, ref_lse, *ref_g = cpu_reference(*vals, mask, causal, scale, code, go)
        tol = TOLS[code]
        np.testing.assert_allclose(host_bhtd(out, code), ref_out, **tol)
        got_lse = download(lse)
        assert np.array_equal(np.isinf(got_lse), np.isinf(ref_lse))
        fin = np.isfinite(ref_lse)
        np.testing.assert_allclose(got_lse[fin], ref_lse[fin], **LSE_TOLS[code])

        g = device_view(go, code, layout)
        grads = [device_empty(x.shape, code, layout) for x in vals]
        C.attention_backward(g, q, k, v, dm, out, lse, *grads, causal, scale)
        first = [host_bhtd(x, code) for x in grads]
        for got, want in zip(first, ref_g):
            np.testing.assert_allclose(got, want, **GRAD_TOLS[code])
        # Deterministic: no atomics, so a second run is bitwise equal.
        C.attention_backward(g, q, k, v, dm, out, lse, *grads, causal, scale)
        for a, x in zip(first, grads):
            assert np.array_equal(a, host_bhtd(x, code))


@pytest.mark.parametrize("code", [F32, F64, BF16])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "lens_q, lens_k",
    [([1], [1]), ([5, 0, 70, 33], [5, 3, 70, 0]), ([97, 1, 40], [31, 64, 40])],
)
class TestVarlenAgainstCpu:
    pytestmark = GPU

    def test_forward_backward(self, rng, code, causal, lens_q, lens_k):
        hq, hkv, d = 4, 2, 40
        cq, ck = np.cumsum([0, *lens_q]), np.cumsum([0, *lens_k])
        nq, nk = int(cq[-1]), int(ck[-1])
        vals = [rng.normal(0, 1, s) for s in ((1, hq, nq, d), (1, hkv, nk, d), (1, hkv, nk, d))]
        vals = [from_bits(to_bits(x, code), code).astype(np.float64) for x in vals]
        go = from_bits(to_bits(rng.normal(0, 1, (1, hq, nq, d)), code), code).astype(np.float64)
        scale = 0.3
        cu_q, cu_k = cpu(cq.astype(np.int64)), cpu(ck.astype(np.int64))
        # The CPU reference (float32, float64 for float64).
        t, acc = (np.float64, F64) if code == F64 else (np.float32, F32)
        ref = [np.ascontiguousarray(x, t) for x in vals]
        r_out = _C.TensorImpl.empty([1, hq, nq, d], acc)
        r_lse = _C.TensorImpl.empty([1, hq, nq], acc)
        _C.attention_varlen_forward(*(cpu(x) for x in ref), cu_q, cu_k, r_out, r_lse, causal, scale)
        r_grads = [_C.TensorImpl.empty(list(x.shape), acc) for x in ref]
        r_go = cpu(np.ascontiguousarray(go, t))
        r_in = [cpu(x) for x in ref]
        _C.attention_varlen_backward(r_go, *r_in, cu_q, cu_k, r_out, r_lse, *r_grads, causal, scale)

        q, k, v = (device_view(x, code, "BHTD") for x in vals)
        out = device_empty((1, hq, nq, d), code, "BHTD")
        lse = C.empty([1, hq, nq], acc, 0)
        C.attention_varlen_forward(q, k, v, cu_q, cu_k, out, lse, causal, scale)
        tol = TOLS[code]
        np.testing.assert_allclose(host_bhtd(out, code), np.asarray(r_out), **tol)
        got_lse, want_lse = download(lse), np.asarray(r_lse)
        assert np.array_equal(np.isinf(got_lse), np.isinf(want_lse))
        fin = np.isfinite(want_lse)
        np.testing.assert_allclose(got_lse[fin], want_lse[fin], **LSE_TOLS[code])
        grads = [device_empty(x.shape, code, "BHTD") for x in vals]
        g = device_view(go, code, "BHTD")
        C.attention_varlen_backward(g, q, k, v, cu_q, cu_k, out, lse, *grads, causal, scale)
        for got, want in zip(grads, r_grads):
            np.testing.assert_allclose(host_bhtd(got, code), np.asarray(want), **GRAD_TOLS[code])


@pytest.mark.parametrize("code, lse_code", [(F64, F32), (F32, F64), (BF16, F64)])
class TestLseDtype:
    """lse comes in the accumulation dtype, float64 for float64 operands (the backward
    recomputes P = exp(s - lse) from it), else float32; the other is refused before a launch."""

    pytestmark = GPU

    def test_wrong_lse_dtype(self, code, lse_code):
        qs, ks = (2, 4, 5, 8), (2, 2, 7, 8)
        shapes = dict(query=qs, key=ks, value=ks, out=qs)
        shapes.update(grad_out=qs, grad_query=qs, grad_key=ks, grad_value=ks)
        t = {k: C.empty(list(s), code, 0) for k, s in shapes.items()}
        name = {F32: "float32", F64: "float64", BF16: "bfloat16"}
        want = "float64" if code == F64 else "float32"
        msg = rf"{OP}: lse has dtype {name[lse_code]}, expected {want} \(query is {name[code]}\)"
        lse = C.empty([2, 4, 5], lse_code, 0)
        args = dict(attn_mask=None, lse=lse, is_causal=False, scale=0.5)
        with pytest.raises(TypeError, match=msg):
            C.attention_forward(**{k: t[k] for k in ("query", "key", "value", "out")}, **args)
        with pytest.raises(TypeError, match=msg):
            C.attention_backward(**t, **args)


class TestPythonOp:
    pytestmark = GPU

    @pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
    def test_sdpa_with_autograd_matches_cpu(self, rng, layout):
        shapes = [(2, 37, 4, 24), (2, 53, 2, 24), (2, 53, 2, 24)]
        if layout == "BHTD":
            shapes = [(s[0], s[2], s[1], s[3]) for s in shapes]
        arrays = [rng.normal(0, 1, s).astype(np.float32) for s in shapes]
        g = rng.normal(0, 1, shapes[0]).astype(np.float32)
        res = {}
        for dev in ("cpu", "cuda"):
            ts = [ember.tensor(a, device=dev, requires_grad=True) for a in arrays]
            y = ember.nn.functional.scaled_dot_product_attention(
                *ts, is_causal=True, enable_gqa=True, layout=layout
            )
            y.backward(ember.tensor(g, device=dev))
            res[dev] = [y.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t in ts]
        for a, b in zip(res["cuda"], res["cpu"]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
