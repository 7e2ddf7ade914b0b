"""The bf16 attention forward (vdpbf16ps products, float32 softmax, P rounded to bf16) against
the float64 reference on the same bf16-rounded inputs, with an error bound derived from the
roundings: awkward shapes past the 64-row / 128-key blocks, odd head dims, GQA, causal,
masks, both layouts, varlen; the path choice (the bf16 GEMM's: auto / native / widen, per
ISA); 1 vs 2 threads bitwise; gradients under autocast (float32 backward) against torch."""

import ember._C as _C
import numpy as np
import pytest
from attn_reference import attention, probs

import ember
import ember.nn.functional as F

U8, U24 = 2.0**-8, 2.0**-24
needs_native = pytest.mark.skipif(
    not _C._attention_bf16_native(), reason="the bf16 attention path is not native here"
)


@pytest.fixture
def bf16_path(request):
    """Sets the bf16 path preference (auto / native / widen) for the test, then restores it."""
    previous = _C._gemm_bf16_path()
    _C._gemm_set_bf16_path(request.param)
    yield request.param
    _C._gemm_set_bf16_path(previous)


def _bf16(a):
    """(ember bf16 tensor, its values as float64 numpy)."""
    t = ember.from_numpy(np.ascontiguousarray(a, np.float32)).to(ember.bfloat16)
    return t, t.float().numpy().astype(np.float64)


def _bound(q, k, v, out, scale, causal, mask):
    """|ember bf16 - float64 reference| bound per element, (B, Hq, Tq, D), from float64 q, k,
    v (bf16 values), the reference output, and the mask (bool or additive, float64).

    P rounded to bf16 (relative error <= 2^-8 each; the row sum is the float32 one of the
    unrounded P) moves out[i, d] by <= 2^-8 W[i, d], W = sum_j P_ij |v_jd|, and rounding the
    output by <= 2^-8 |out|. The float32 terms: a score's error (fp32 dot of D bf16 products,
    scale and mask in fp32, the exp2 argument) is <= (D + 8) 2^-24 e_ij with
    e = scale sum_d |q_id k_jd| + |m_ij|, and moves P_ij by a relative <= 2 max_j that (its own
    and the normalizer's); the exp2 polynomial adds 2e-7 relative, the fp32 sums over Tk keys
    Tk 2^-24. A factor 2 covers the products of these terms."""
    g = q.shape[1] // k.shape[1]
    kr, vr = np.repeat(k, g, 1), np.repeat(v, g, 1)
    p = probs(q, kr, scale, causal, mask)
    w = p @ np.abs(vr)
    e = scale * (np.abs(q) @ np.abs(kr).swapaxes(-1, -2))
    if mask is not None and mask.dtype != bool:
        e = e + np.abs(mask)
    ds = (q.shape[-1] + 8) * U24 * np.where(p > 0, e, 0.0).max(-1, keepdims=True)
    fp32 = 2 * ds + 2e-7 + 2 * k.shape[2] * U24
    return U8 * (w + np.abs(out)) + 2 * fp32 * w


def _check(got, q, k, v, scale, causal=False, mask=None):
    want = attention(q, k, v, scale=scale, causal=causal, mask=mask)
    tol = _bound(q, k, v, want, scale, causal, mask)
    err = np.abs(got - want)
    assert np.all(err <= tol), f"worst err / bound {np.max(err / np.maximum(tol, 1e-300)):.3g}"
    return err


def _sdpa_bf16(rng, B, Hq, Hkv, Tq, Tk, D, causal=False, mask=None, layout="BHTD", **kw):
    """ember's bf16 SDPA output (float64, (B, Hq, Tq, D)) and the rounded inputs."""
    arrs = [rng.standard_normal((B, h, t, D)) for h, t in ((Hq, Tq), (Hkv, Tk), (Hkv, Tk))]
    ts, vals = zip(*(_bf16(a if layout == "BHTD" else a.transpose(0, 2, 1, 3)) for a in arrs))
    m = None if mask is None else ember.from_numpy(np.ascontiguousarray(mask))
    out = F.scaled_dot_product_attention(
        *ts, attn_mask=m, is_causal=causal, enable_gqa=Hq != Hkv, layout=layout, **kw
    )
    assert out.dtype is ember.bfloat16
    got = out.float().numpy().astype(np.float64)
    if layout == "BTHD":
        got, vals = got.transpose(0, 2, 1, 3), [x.transpose(0, 2, 1, 3) for x in vals]
    return got, vals


# (B, Hq, Hkv, Tq, Tk, D, causal): T 1, primes, past kAttnBq = 64 / kAttnBk = 128; D 1, odd,
# not a multiple of 16 or 32, up to 256; GQA; B * Hkv below and above 4 * threads.
SHAPES = [
    (1, 1, 1, 1, 1, 1, False),
    (1, 1, 1, 1, 300, 64, True),
    (2, 2, 2, 2, 17, 7, True),
    (1, 2, 2, 17, 2, 33, False),
    (2, 4, 2, 63, 65, 63, True),
    (1, 3, 1, 65, 131, 80, False),
    (1, 2, 1, 129, 129, 128, True),
    (1, 1, 1, 131, 257, 256, False),
    (4, 2, 2, 67, 129, 48, True),
    (1, 1, 1, 300, 300, 31, True),
]


@needs_native
@pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_within_bound(rng, shape, layout):
    B, Hq, Hkv, Tq, Tk, D, causal = shape
    scale = 1.0 / np.sqrt(D)
    got, (q, k, v) = _sdpa_bf16(rng, B, Hq, Hkv, Tq, Tk, D, causal, layout=layout)
    _check(got, q, k, v, scale, causal)


@needs_native
@pytest.mark.parametrize("kind", ["bool", "additive", "key_padding", "head", "all_masked_row"])
def test_masks(rng, kind):
    B, Hq, Hkv, Tq, Tk, D = 2, 4, 2, 70, 133, 24
    if kind == "bool":
        mask = rng.random((B, Hq, Tq, Tk)) < 0.7
    elif kind == "additive":
        mask = rng.standard_normal((B, 1, Tq, Tk)).astype(np.float32)
    elif kind == "key_padding":
        mask = np.arange(Tk)[None, None, None] < np.array([100, 7])[:, None, None, None]
    elif kind == "head":
        mask = (3 * rng.standard_normal((1, Hq, 1, Tk))).astype(np.float32)
    else:
        mask = rng.random((1, 1, Tq, Tk)) < 0.5
        mask[:, :, 5] = False  # a row that sees no key: zeros
    got, (q, k, v) = _sdpa_bf16(rng, B, Hq, Hkv, Tq, Tk, D, mask=mask, causal=kind == "bool")
    mref = mask if mask.dtype == bool else mask.astype(np.float64)
    _check(got, q, k, v, 1.0 / np.sqrt(D), kind == "bool", mref)
    if kind == "all_masked_row":
        assert np.all(got[:, :, 5] == 0)


@needs_native
def test_scale_and_rounding_visible(rng):
    """A non-default scale; the output is not the float32 path's (P is rounded to bf16)."""
    got, (q, k, v) = _sdpa_bf16(rng, 1, 2, 2, 90, 200, 64, scale=0.4)
    err = _check(got, q, k, v, 0.4)
    assert err.max() > 0
    ts = [_bf16(x)[0] for x in (q, k, v)]
    wide = F.scaled_dot_product_attention(*(t.float() for t in ts), scale=0.4)
    assert not np.array_equal(got, wide.to(ember.bfloat16).float().numpy())


@needs_native
def test_views_of_a_kv_cache_and_a_fused_projection(rng):
    """Tq = 1 against key/value prefixes [:, :, :t] of a preallocated bf16 cache, and q, k, v
    as strided views of one fused (B, T, 3, H, D) projection: read in place."""
    B, H, Tmax, D = 2, 4, 300, 40
    (kc, kv), (vc, vv) = (
        _bf16(rng.standard_normal((B, H, Tmax, D))),
        _bf16(rng.standard_normal((B, H, Tmax, D))),
    )
    for t in (1, 2, 129, 257):
        tq, q = _bf16(rng.standard_normal((B, H, 1, D)))
        out = F.scaled_dot_product_attention(tq, kc[:, :, :t], vc[:, :, :t])
        got = out.float().numpy().astype(np.float64)
        _check(got, q, kv[:, :, :t], vv[:, :, :t], 1 / np.sqrt(D))
    tqkv, qkv = _bf16(rng.standard_normal((B, 70, 3, H, D)))
    views = [tqkv[:, :, i] for i in range(3)]
    out = F.scaled_dot_product_attention(*views, is_causal=True, layout="BTHD")
    got = out.float().numpy().astype(np.float64).transpose(0, 2, 1, 3)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    _check(got, q, k, v, 1 / np.sqrt(D), True)


@needs_native
def test_varlen(rng):
    lens_q, lens_k = [5, 0, 1, 131, 67], [9, 3, 1, 140, 0]
    cu_q = np.concatenate([[0], np.cumsum(lens_q)]).astype(np.int64)
    cu_k = np.concatenate([[0], np.cumsum(lens_k)]).astype(np.int64)
    H, Hkv, D = 4, 2, 35
    (tq, q), (tk, k), (tv, v) = (
        _bf16(rng.standard_normal(shape))
        for shape in ((cu_q[-1], H, D), (cu_k[-1], Hkv, D), (cu_k[-1], Hkv, D))
    )
    out = F.varlen_attention(tq, tk, tv, cu_q, cu_k, is_causal=True, enable_gqa=True)
    assert out.dtype is ember.bfloat16
    got = out.float().numpy().astype(np.float64)
    for s in range(len(lens_q)):
        rq, rk = slice(cu_q[s], cu_q[s + 1]), slice(cu_k[s], cu_k[s + 1])
        if rk.stop == rk.start:
            assert np.all(got[rq] == 0)
            continue
        bhtd = lambda x: x[None].transpose(0, 2, 1, 3)  # noqa: E731
        _check(bhtd(got[rq]), bhtd(q[rq]), bhtd(k[rk]), bhtd(v[rk]), 1 / np.sqrt(D), True)


@pytest.mark.parametrize("bf16_path", ["auto", "native", "widen"], indirect=True)
def test_path_follows_the_gemm(isa, rng, bf16_path):
    """The bf16 GEMM's choice picks the path on every ISA; widen (and any ISA without the
    kernel) computes in float32: exactly the float32 op on the widened inputs, rounded."""
    assert _C._attention_bf16_native() == _C._gemm_bf16_native()
    if isa != "avx512":
        assert not _C._attention_bf16_native()
    ts = [_bf16(rng.standard_normal((2, 3, 70, 40)))[0] for _ in range(3)]
    got = F.scaled_dot_product_attention(*ts, is_causal=True).float().numpy()
    wide = F.scaled_dot_product_attention(*(t.float() for t in ts), is_causal=True)
    wide = wide.to(ember.bfloat16).float().numpy()
    assert np.array_equal(got, wide) != _C._attention_bf16_native()
    vals = [t.float().numpy().astype(np.float64) for t in ts]
    _check(got.astype(np.float64), *vals, 1 / np.sqrt(40), True)


@needs_native
@pytest.mark.parametrize(
    "shape", [(1, 4, 2, 150, 150, 64), (1, 4, 4, 70, 200, 40), (4, 4, 4, 65, 131, 33)], ids=str
)
def test_one_vs_two_threads_bitwise(rng, shape):
    """B * Hkv = 2, 4, 16: the shared-panel split, a switch between splits, head-parallel."""
    B, Hq, Hkv, Tq, Tk, D = shape
    ts = [_bf16(rng.standard_normal((B, h, t, D)))[0] for h, t in ((Hq, Tq), (Hkv, Tk), (Hkv, Tk))]
    mask = ember.from_numpy(rng.standard_normal((1, 1, Tq, Tk)).astype(np.float32))
    prev = _C.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            _C.set_num_threads(n)
            for kw in ({"is_causal": True}, {"attn_mask": mask}):
                out = F.scaled_dot_product_attention(*ts, enable_gqa=True, **kw)
                runs.append(out.float().numpy())
    finally:
        _C.set_num_threads(prev)
    assert np.array_equal(runs[0], runs[2]) and np.array_equal(runs[1], runs[3])


@pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
def test_gradients_under_autocast_match_torch(rng, layout):
    """float32 leaves inside autocast: the bf16 forward, the float32 backward (of the widened
    bf16 operands) reach the float32 leaves; loosely torch's autocast SDPA."""
    torch = pytest.importorskip("torch")
    B, H, Tn, D = 2, 3, 77, 40
    shape = (B, H, Tn, D) if layout == "BHTD" else (B, Tn, H, D)
    x = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    go = rng.standard_normal(shape).astype(np.float32)
    ours = [ember.tensor(a, requires_grad=True) for a in x]
    with ember.autocast("cpu", dtype=ember.bfloat16):
        out = F.scaled_dot_product_attention(*ours, is_causal=True, layout=layout)
    assert out.dtype is ember.bfloat16
    (out.float() * ember.tensor(go)).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in x]
    perm = (lambda t: t) if layout == "BHTD" else (lambda t: t.transpose(1, 2))  # noqa: E731
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = perm(
            torch.nn.functional.scaled_dot_product_attention(
                *(perm(t) for t in theirs), is_causal=True
            )
        )
    assert ref.dtype is torch.bfloat16
    (ref.float() * torch.tensor(go)).sum().backward()
    got, want = out.detach().float().numpy(), ref.detach().float().numpy()
    np.testing.assert_allclose(got, want, atol=3e-2)
    for a, b in zip(ours, theirs):
        assert a.grad.dtype is ember.float32
        g, w = a.grad.numpy(), b.grad.numpy()
        assert np.abs(g - w).max() <= 3e-2 * np.abs(w).max()


@needs_native
def test_kernel_argument_errors(rng):
    """The raw binding: bf16 backward, a bf16 additive mask and a non-native path are
    TypeErrors naming the op."""
    q = ember.from_numpy(rng.standard_normal((1, 1, 5, 8)).astype(np.float32))
    qb = q.to(ember.bfloat16)
    out = ember.empty((1, 1, 5, 8), dtype=ember.bfloat16)
    lse = ember.empty((1, 1, 5), dtype=ember.float32)
    args = (qb._impl, qb._impl, qb._impl)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: attn_mask has dtype"):
        mask = ember.zeros((1, 1, 5, 5), dtype=ember.bfloat16)
        _C.attention_forward(*args, mask._impl, out._impl, lse._impl, False, 0.5)
    with pytest.raises(TypeError, match="query has dtype bfloat16, expected float32 or float64"):
        _C.attention_backward(
            out._impl,
            *args,
            None,
            out._impl,
            lse._impl,
            out._impl,
            out._impl,
            out._impl,
            False,
            0.5,
        )
    previous = _C._gemm_bf16_path()
    _C._gemm_set_bf16_path("widen")
    try:
        with pytest.raises(TypeError, match="need the native bf16 path"):
            _C.attention_forward(*args, None, out._impl, lse._impl, False, 0.5)
    finally:
        _C._gemm_set_bf16_path(previous)
