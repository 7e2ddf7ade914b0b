"""The raw attention kernels (ember._C.attention_forward / attention_backward) against the
float64 numpy reference, under every ISA: awkward sequence lengths and head dims, causal,
masks, grouped-query attention, Tq != Tk, strided views; 1 vs 2 threads bitwise."""

import ember._C as _C
import numpy as np
import pytest
from attn_reference import attention

T = _C.TensorImpl.from_buffer

# (B, Hq, Hkv, Tq, Tk, D, causal): every T in 1, 2, 17, 63, 65, 129, 300, every D in
# 1, 8, 32, 63, 64, 80, 128, 256; B * Hkv >= 4 takes the one-pass backward, fewer the
# two-pass one.
SHAPES = [
    (1, 1, 1, 1, 1, 1, False),
    (1, 1, 1, 1, 300, 64, True),
    (2, 2, 2, 2, 17, 8, True),
    (1, 2, 2, 17, 2, 32, False),
    (2, 4, 2, 63, 65, 63, True),
    (1, 3, 1, 65, 63, 80, False),
    (1, 2, 1, 129, 129, 128, True),
    (1, 1, 1, 300, 129, 256, False),
    (2, 2, 2, 129, 65, 64, True),
    (1, 1, 1, 300, 300, 32, True),
]


def _run(q, k, v, go=None, mask=None, causal=False, scale=None, out_strides=None):
    """Forward (and backward when go is given) through the bindings, outputs poisoned."""
    dt = q.dtype
    B, Hq, Tq, D = q.shape
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    o = np.full((B, Hq, Tq, D), np.nan, dt) if out_strides is None else out_strides
    lse = np.full((B, Hq, Tq), np.nan, np.float64 if dt == np.float64 else np.float32)
    m = None if mask is None else T(mask)
    _C.attention_forward(T(q), T(k), T(v), m, T(o), T(lse), causal, scale)
    if go is None:
        return o
    gq, gk, gv = (np.full(x.shape, 12345.0, dt) for x in (q, k, v))
    _C.attention_backward(
        T(go), T(q), T(k), T(v), m, T(o), T(lse), T(gq), T(gk), T(gv), causal, scale
    )
    return o, gq, gk, gv


def _inputs(rng, B, Hq, Hkv, Tq, Tk, D, dt=np.float32):
    q = rng.standard_normal((B, Hq, Tq, D)).astype(dt)
    k = rng.standard_normal((B, Hkv, Tk, D)).astype(dt)
    v = rng.standard_normal((B, Hkv, Tk, D)).astype(dt)
    go = rng.standard_normal((B, Hq, Tq, D)).astype(dt)
    return q, k, v, go


def _close(got, want, tol):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_backward_float32(isa, rng, shape):
    B, Hq, Hkv, Tq, Tk, D, causal = shape
    q, k, v, go = _inputs(rng, B, Hq, Hkv, Tq, Tk, D)
    got = _run(q, k, v, go, causal=causal)
    _close(got, attention(q, k, v, causal=causal, go=go), 2e-5)


@pytest.mark.parametrize("shape", SHAPES[:6], ids=str)
def test_forward_backward_float64(rng, shape):
    B, Hq, Hkv, Tq, Tk, D, causal = shape
    q, k, v, go = _inputs(rng, B, Hq, Hkv, Tq, Tk, D, np.float64)
    got = _run(q, k, v, go, causal=causal)
    _close(got, attention(q, k, v, causal=causal, go=go), 1e-12)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_lse_in_the_accumulation_dtype(rng, dt):
    """The saved lse is float64 for float64 operands (the CUDA backward recomputes P from it,
    so it must be float64-accurate), float32 otherwise, also packed (varlen: per sequence)."""
    B, H, Tq, Tk, D, scale = 1, 2, 9, 33, 8, 0.5
    q, k, v, _ = _inputs(rng, B, H, H, Tq, Tk, D, dt)
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k.astype(np.float64)) * scale
    causal = np.tril(np.ones((Tq, Tk), bool))
    want = np.log(np.where(causal, np.exp(s), 0).sum(-1))
    tol = dict(rtol=1e-14) if dt == np.float64 else dict(rtol=1e-5, atol=1e-5)
    lse = np.full((B, H, Tq), np.nan, dt)
    _C.attention_forward(T(q), T(k), T(v), None, T(np.empty_like(q)), T(lse), True, scale)
    np.testing.assert_allclose(lse, want, **tol)
    # Two sequences packed: rows [0, 4) see keys [0, 20), rows [4, 9) keys [20, 33).
    cu_q, cu_k = np.array([0, 4, Tq], np.int64), np.array([0, 20, Tk], np.int64)
    lse = np.full((B, H, Tq), np.nan, dt)
    _C.attention_varlen_forward(
        T(q), T(k), T(v), T(cu_q), T(cu_k), T(np.empty_like(q)), T(lse), False, scale
    )
    seq = np.zeros((Tq, Tk), bool)
    seq[:4, :20] = seq[4:, 20:] = True
    np.testing.assert_allclose(lse, np.log(np.where(seq, np.exp(s), 0).sum(-1)), **tol)
    wrong = np.float32 if dt == np.float64 else np.float64
    with pytest.raises(TypeError, match=f"lse has dtype {np.dtype(wrong).name}, expected"):
        _C.attention_forward(
            T(q), T(k), T(v), None, T(np.empty_like(q)), T(lse.astype(wrong)), True, scale
        )


@pytest.mark.parametrize("kind", ["bool", "additive", "key_padding", "bool_TxT", "head"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_masks(isa, rng, kind, dt):
    B, Hq, Hkv, Tq, Tk, D = 2, 4, 2, 70, 67, 16
    q, k, v, go = _inputs(rng, B, Hq, Hkv, Tq, Tk, D, dt)
    if kind == "bool":
        mask = rng.random((B, Hq, Tq, Tk)) < 0.7
    elif kind == "additive":
        mask = rng.standard_normal((B, 1, Tq, Tk)).astype(dt)
    elif kind == "key_padding":
        mask = np.ones((B, 1, 1, Tk), bool)
        mask[0, ..., 50:] = False
        mask[1, ..., 3:] = False
    elif kind == "bool_TxT":
        mask = rng.random((1, 1, Tq, Tk)) < 0.5
    else:
        # ALiBi-like per-head slopes (scores stay O(10): fp32 rounds larger ones coarsely)
        mask = rng.standard_normal((1, Hq, 1, 1)).astype(dt) * np.arange(Tk, dtype=dt) * dt(0.1)
    for causal in (False, True):
        got = _run(q, k, v, go, mask=mask, causal=causal)
        want = attention(q, k, v, causal=causal, mask=mask, go=go)
        _close(got, want, 2e-5 if dt == np.float32 else 1e-12)


def test_fully_masked_rows_are_zero(isa, rng):
    B, H, Tq, Tk, D = 1, 2, 20, 70, 8
    q, k, v, go = _inputs(rng, B, H, H, Tq, Tk, D)
    mask = rng.random((B, H, Tq, Tk)) < 0.5
    mask[0, 0, 3] = False
    mask[0, 1, 17] = False
    o, gq, gk, gv = _run(q, k, v, go, mask=mask)
    assert np.all(o[0, 0, 3] == 0) and np.all(o[0, 1, 17] == 0)
    assert np.all(gq[0, 0, 3] == 0) and np.all(gq[0, 1, 17] == 0)
    _close((o, gq, gk, gv), attention(q, k, v, mask=mask, go=go), 2e-5)


def test_zero_length_keys_give_zeros(isa, rng):
    q, k, v, go = _inputs(rng, 1, 2, 2, 5, 0, 8)
    o, gq, gk, gv = _run(q, k, v, go)
    assert np.all(o == 0) and np.all(gq == 0) and gk.size == 0


def test_strided_views_fused_qkv_and_bthd_output(isa, rng):
    """q, k, v as views of one (B, T, 3, H, D) projection, output straight into a (B, T, H, D)
    buffer: all (B, H, T, D) views with non-trivial strides."""
    B, Tn, H, D = 2, 37, 3, 24
    qkv = rng.standard_normal((B, Tn, 3, H, D)).astype(np.float32)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    out = np.full((B, Tn, H, D), np.nan, np.float32)
    go_bthd = rng.standard_normal((B, Tn, H, D)).astype(np.float32)
    go = go_bthd.transpose(0, 2, 1, 3)
    o_view = out.transpose(0, 2, 1, 3)
    lse = np.full((B, H, Tn), np.nan, np.float32)
    _C.attention_forward(T(q), T(k), T(v), None, T(o_view), T(lse), True, 0.3)
    grads = np.full((3, B, Tn, H, D), np.nan, np.float32)
    gq, gk, gv = (grads[i].transpose(0, 2, 1, 3) for i in range(3))
    _C.attention_backward(
        T(go), T(q), T(k), T(v), None, T(o_view), T(lse), T(gq), T(gk), T(gv), True, 0.3
    )
    want = attention(q, k, v, scale=0.3, causal=True, go=go)
    _close((o_view, gq, gk, gv), want, 2e-5)


def test_kv_cache_prefix_decoding(isa, rng):
    """Tq = 1 against key/value views [:, :, :t] of a larger preallocated cache."""
    B, H, Tmax, D = 2, 4, 100, 32
    kc = rng.standard_normal((B, H, Tmax, D)).astype(np.float32)
    vc = rng.standard_normal((B, H, Tmax, D)).astype(np.float32)
    for t in (1, 2, 63, 64, 65, 99):
        q = rng.standard_normal((B, H, 1, D)).astype(np.float32)
        o = _run(q, kc[:, :, :t], vc[:, :, :t])
        np.testing.assert_allclose(o, attention(q, kc[:, :, :t], vc[:, :, :t]), 2e-5, 2e-5)


@pytest.mark.parametrize(
    "shape", [(2, 4, 2, 150, 150, 64, True), (1, 2, 1, 200, 130, 40, False)], ids=str
)
def test_one_vs_two_threads_bitwise(isa, rng, shape):
    B, Hq, Hkv, Tq, Tk, D, causal = shape
    q, k, v, go = _inputs(rng, B, Hq, Hkv, Tq, Tk, D)
    mask = rng.standard_normal((1, 1, Tq, Tk)).astype(np.float32)
    prev = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = _run(q, k, v, go, mask=mask, causal=causal)
        _C.set_num_threads(2)
        two = _run(q, k, v, go, mask=mask, causal=causal)
    finally:
        _C.set_num_threads(prev)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)
