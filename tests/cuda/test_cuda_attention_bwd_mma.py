"""The tensor-core flash attention backward (float16 / bfloat16, head dims up to 128).

Without a GPU: its plan (tiles, shared memory, threads), that its dQ and dK / dV passes visit
exactly the (query tile, key tile) pairs holding a visible pair on awkward lengths (causal
tile skipping), the per-element math (P, dS) against numpy float64, the 16-bit argument
rules, and the Python op's choice of backward dtype. With a GPU (`-m cuda`): the 16-bit
CUDA backward against ember's float32 CPU backward on the same (16-bit rounded) values,
with tolerances relative to each gradient's largest magnitude, over masks, layouts, GQA,
causal, Tq != Tk and varlen, deterministic from run to run; and through autograd.
"""

import math

import ember._C as _C
import numpy as np
import pytest
from test_cuda import BF16, F16, F32, F64, cpu, needs_ext, no_gpu
from test_cuda_attention import (
    GPU,
    cpu_reference,
    device_empty,
    device_view,
    fake,
    from_bits,
    fwd_args,
    host_bhtd,
    make_mask,
    to_bits,
)

import ember
from ember.ops.attention import _backward_dtype

try:
    import ember._C_cuda as C
except ImportError:
    C = None

pytestmark = needs_ext
HALVES = [F16, BF16]
ROWS = 32  # rows a block owns (the plan's "rows")
AWKWARD = [1, 2, 13, 31, 32, 33, 61, 97, 131]

# ------------------------------------------------------------- plan (no GPU)


@pytest.mark.parametrize("code", [F32, F64, F16, BF16])
@pytest.mark.parametrize("d", [1, 17, 32, 40, 64, 65, 100, 128, 129, 256])
def test_backward_plan(code, d):
    plan = C._attention_plan(d, code)
    kd = plan["head_dim"]
    assert plan["backward_mma"] == (code in HALVES and kd <= 128)
    if not plan["backward_mma"]:
        assert "backward_threads" not in plan
        return
    tile = 64 if kd <= 64 else 32
    pitch = kd + 8  # the forward's pitch: 8 fragment rows start in 8 distinct bank quads
    assert plan["backward_threads"] == plan["forward_threads"] == 64  # a warp per 16 rows
    assert plan["grad_q_tile"] == plan["grad_kv_tile"] == tile
    assert plan["grad_q_smem"] == (2 * ROWS + 2 * tile) * pitch * 2
    assert plan["grad_kv_smem"] == plan["grad_q_smem"] + 2 * tile * 4  # lse, delta
    assert plan["grad_kv_smem"] <= plan["smem_budget"]
    # The float32 lse / delta after the 16-bit rows stay 4-byte aligned; rows 16-byte.
    assert (pitch * 2) % 16 == 0 and plan["grad_q_smem"] % 4 == 0


# ------------------------------------------------ tiles visited (no GPU)


def expected_visits(pas, tq, tk, tile, causal):
    """Every (block rows, streamed tile) pair holding a visible (query, key) pair, in the
    kernels' loop order: blocks of ROWS queries (dQ) or keys (dK / dV)."""
    out = []
    if pas == "grad_q":
        for q0 in range(0, tq, ROWS):
            q1 = min(tq, q0 + ROWS)
            for k0 in range(0, tk, tile):
                k1 = min(tk, k0 + tile)
                if not causal or k0 <= q1 - 1:
                    out.append((q0, q1, k0, k1))
    else:
        for k0 in range(0, tk, ROWS):
            k1 = min(tk, k0 + ROWS)
            for q0 in range(0, tq, tile):
                q1 = min(tq, q0 + tile)
                if not causal or q1 - 1 >= k0:
                    out.append((q0, q1, k0, k1))
    return out


@pytest.mark.parametrize("pas", ["grad_q", "grad_kv"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d, code", [(64, BF16), (128, F16), (40, F16), (100, BF16)])
def test_backward_visits_exactly_the_visible_tiles(pas, causal, d, code):
    tile = C._attention_plan(d, code)[f"{pas}_tile"]
    for tq in AWKWARD:
        for tk in AWKWARD:
            got = [tuple(v) for v in C._attention_visits(pas, tq, tk, d, code, causal)]
            assert got == expected_visits(pas, tq, tk, tile, causal), (tq, tk)


def test_causal_backward_skips_about_half_the_tiles():
    for pas in ("grad_q", "grad_kv"):
        full = len(C._attention_visits(pas, 1031, 1031, 128, BF16, False))
        causal = len(C._attention_visits(pas, 1031, 1031, 128, BF16, True))
        assert 0.45 * full < causal < 0.6 * full, pas


# ------------------------------------------------ per-element math (no GPU)


@pytest.mark.parametrize("f64", [False, True])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 131])
def test_grad_row_matches_float64(rng, f64, n):
    s = rng.normal(0, 3, n)
    s[rng.random(n) < 0.3] = -np.inf
    s[0] = 0.5  # at least one visible key
    dp = rng.normal(0, 1, n)
    lse = float(np.log(np.sum(np.exp(s))))
    p = np.exp(s - lse)
    delta = float(np.sum(p * dp))
    got_p, got_ds = C._attention_grad_row(list(s), lse, list(dp), delta, f64)
    tol = dict(rtol=1e-12, atol=1e-14) if f64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_p, p, **tol)
    np.testing.assert_allclose(got_ds, p * (dp - delta), **tol)
    assert all(got_p[j] == 0.0 and got_ds[j] == 0.0 for j in range(n) if np.isinf(s[j]))
    assert abs(sum(got_ds)) < 1e-5 * max(1.0, np.abs(dp).max())  # rows of dS sum to zero


def test_grad_row_fully_masked():
    p, ds = C._attention_grad_row([-math.inf, -math.inf], math.inf, [1.0, -2.0], 0.0, False)
    assert p == [0.0, 0.0] and ds == [0.0, 0.0]
    with pytest.raises(ValueError, match="one dP per score"):
        C._attention_grad_row([0.0], 0.0, [], 0.0, False)


# ------------------------------------------------ 16-bit arguments (no GPU)


def half(shape):
    return fake(shape, np.float16)


@no_gpu
def test_16bit_backward_dtype_rules():
    a = fwd_args(
        query=half((2, 4, 5, 8)),
        key=half((2, 2, 7, 8)),
        value=half((2, 2, 7, 8)),
        out=half((2, 4, 5, 8)),
    )
    a.update(
        grad_out=half((2, 4, 5, 8)),
        grad_query=half((2, 4, 5, 8)),
        grad_key=half((2, 2, 7, 8)),
        grad_value=half((2, 2, 7, 8)),
    )
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        C.attention_backward(**a)
    with pytest.raises(TypeError, match="lse"):  # lse stays float32
        C.attention_backward(**{**a, "lse": half((2, 4, 5))})
    with pytest.raises(TypeError, match="grad_query has dtype float32, expected float16"):
        C.attention_backward(**{**a, "grad_query": fake((2, 4, 5, 8))})
    with pytest.raises(TypeError, match="attn_mask has dtype float16, expected bool or float32"):
        C.attention_backward(**{**a, "attn_mask": half((1, 1, 5, 7))})


def test_python_backward_dtype():
    gpu, host = ember.device("cuda"), ember.device("cpu")
    assert _backward_dtype(ember.bfloat16, gpu) is ember.bfloat16
    assert _backward_dtype(ember.float16, gpu) is ember.float16
    assert _backward_dtype(ember.float32, gpu) is ember.float32
    assert _backward_dtype(ember.float64, gpu) is ember.float64
    assert _backward_dtype(ember.bfloat16, host) is ember.float32  # the CPU's float32 backward
    assert _backward_dtype(ember.float16, host) is ember.float32


# ------------------------------------------------------------- with a GPU

# Relative to max |gradient| (16-bit inputs, P and dS rounded to 16 bits for the products).
REL = {F16: 1e-2, BF16: 4e-2}

CASES = [  # B, Hq, Hkv, Tq, Tk, D, causal, mask
    (1, 1, 1, 1, 1, 64, False, None),
    (1, 1, 1, 1, 1, 128, True, None),
    (2, 3, 3, 7, 13, 64, False, None),
    (1, 2, 2, 33, 33, 64, True, None),
    (2, 4, 2, 61, 97, 128, True, None),
    (1, 4, 1, 97, 61, 128, True, None),
    (1, 6, 2, 97, 31, 128, False, "bool_keys"),
    (2, 2, 1, 131, 65, 64, True, "additive"),
    (1, 2, 2, 17, 70, 100, False, "bool_rows"),
    (1, 2, 1, 129, 257, 40, True, None),
    (1, 1, 1, 67, 67, 17, True, "additive"),
]


def assert_close_rel(got, want, code, what, floor=0.0):
    scale = float(np.abs(want).max())
    err = float(np.abs(got - want).max())
    assert err <= REL[code] * scale + floor, (
        f"{what}: max error {err:.3g} vs max |grad| {scale:.3g} (floor {floor:.3g})"
    )


def cancel_floors(q, k, v, go, scale):
    """Absolute error floors of dQ and dK from float32 cancellation. dS = P (dP - delta)
    with dP = dO . V and delta = dO . O computed by different float32 sums: where they cancel
    (a query seeing one key has P = 1, O = V, so dQ = dK = 0) what remains is their rounding,
    a few 2^-24 of |dO| |V| (Cauchy-Schwarz), times scale and |K| (dQ) or |Q| (dK). 1e-6 of
    that: floors of 2e-5 .. 5e-5 where the one-key cases leave errors up to 9e-7, and under
    0.3% of the relative tolerance in the others."""

    def row(x):  # the largest row norm
        return float(np.sqrt((x.astype(np.float64) ** 2).sum(-1)).max())

    terms = 1e-6 * scale * row(go) * row(v)
    return terms * float(np.abs(k).max()), terms * float(np.abs(q).max())


@pytest.mark.parametrize("code", HALVES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
class TestAgainstCpuFloat32:
    pytestmark = GPU

    def test_backward(self, rng, code, case, layout):
        b, hq, hkv, tq, tk, d, causal, kind = case
        shapes = ((b, hq, tq, d), (b, hkv, tk, d), (b, hkv, tk, d), (b, hq, tq, d))
        vals = [from_bits(to_bits(rng.normal(0, 1, s), code), code) for s in shapes]
        *qkv, go = [x.astype(np.float64) for x in vals]
        mask = make_mask(kind, rng, b, hq, tq, tk, code)
        scale = 0.9 / math.sqrt(d)
        q, k, v = (device_view(x, code, layout) for x in qkv)
        out = device_empty((b, hq, tq, d), code, layout)
        lse = C.empty([b, hq, tq], F32, 0)
        dm = None
        if mask is not None:
            dm = C.empty(list(mask.shape), 0 if mask.dtype == bool else F32, 0)
            C.copy(cpu(mask), dm)
        C.attention_forward(q, k, v, dm, out, lse, causal, scale)
        _, _, *ref = cpu_reference(*qkv, mask, causal, scale, F32, go)
        g = device_view(go, code, layout)
        grads = [device_empty(x.shape, code, layout) for x in qkv]
        C.attention_backward(g, q, k, v, dm, out, lse, *grads, causal, scale)
        first = [host_bhtd(x, code) for x in grads]
        floors = (*cancel_floors(*qkv, go, scale), 0.0)
        for got, want, name, floor in zip(first, ref, ("dQ", "dK", "dV"), floors):
            assert_close_rel(got, want, code, name, floor)
        C.attention_backward(g, q, k, v, dm, out, lse, *grads, causal, scale)
        for a, x in zip(first, grads):  # deterministic: bitwise equal
            assert np.array_equal(a, host_bhtd(x, code))


@pytest.mark.parametrize("code", HALVES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize(
    "lens_q, lens_k", [([1], [1]), ([5, 0, 70, 33], [5, 3, 70, 0]), ([97, 1, 40], [31, 64, 40])]
)
class TestVarlenAgainstCpuFloat32:
    pytestmark = GPU

    def test_backward(self, rng, code, causal, d, lens_q, lens_k):
        hq, hkv = 4, 2
        cq, ck = np.cumsum([0, *lens_q]), np.cumsum([0, *lens_k])
        nq, nk = int(cq[-1]), int(ck[-1])
        shapes = ((1, hq, nq, d), (1, hkv, nk, d), (1, hkv, nk, d), (1, hq, nq, d))
        vals = [from_bits(to_bits(rng.normal(0, 1, s), code), code) for s in shapes]
        ref = [np.ascontiguousarray(x, np.float32) for x in vals]
        scale = 1.0 / math.sqrt(d)
        cu_q, cu_k = cpu(cq.astype(np.int64)), cpu(ck.astype(np.int64))
        r_out = _C.TensorImpl.empty([1, hq, nq, d], F32)
        r_lse = _C.TensorImpl.empty([1, hq, nq], F32)
        r_in = [cpu(x) for x in ref[:3]]
        _C.attention_varlen_forward(*r_in, cu_q, cu_k, r_out, r_lse, causal, scale)
        r_grads = [_C.TensorImpl.empty(list(x.shape), F32) for x in ref[:3]]
        _C.attention_varlen_backward(
            cpu(ref[3]), *r_in, cu_q, cu_k, r_out, r_lse, *r_grads, causal, scale
        )

        q, k, v, g = (device_view(x.astype(np.float64), code, "BHTD") for x in vals)
        out = device_empty((1, hq, nq, d), code, "BHTD")
        lse = C.empty([1, hq, nq], F32, 0)
        C.attention_varlen_forward(q, k, v, cu_q, cu_k, out, lse, causal, scale)
        grads = [device_empty(x.shape, code, "BHTD") for x in ref[:3]]
        C.attention_varlen_backward(g, q, k, v, cu_q, cu_k, out, lse, *grads, causal, scale)
        floors = (*cancel_floors(*vals, scale), 0.0)
        for got, want, name, floor in zip(grads, r_grads, ("dQ", "dK", "dV"), floors):
            assert_close_rel(host_bhtd(got, code), np.asarray(want), code, name, floor)


class TestPythonOp:
    pytestmark = GPU

    @pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
    @pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
    def test_16bit_autograd_matches_cpu_float32(self, rng, layout, dtype):
        code = BF16 if dtype == "bfloat16" else F16
        shapes = [(2, 37, 4, 64), (2, 53, 2, 64), (2, 53, 2, 64), (2, 37, 4, 64)]
        if layout == "BHTD":
            shapes = [(s[0], s[2], s[1], s[3]) for s in shapes]
        *arrays, g = [
            from_bits(to_bits(rng.normal(0, 1, s), code), code).astype(np.float32) for s in shapes
        ]
        dt = getattr(ember, dtype)
        res = {}
        for dev, t in (("cpu", ember.float32), ("cuda", dt)):
            ts = [ember.tensor(a, device=dev).to(t).requires_grad_() for a in arrays]
            y = ember.nn.functional.scaled_dot_product_attention(
                *ts, is_causal=True, enable_gqa=True, layout=layout
            )
            y.backward(ember.tensor(g, device=dev).to(t))
            assert all(x.grad.dtype is t for x in ts)
            res[dev] = [x.grad.float().cpu().numpy() for x in ts]
        for got, want, name in zip(res["cuda"], res["cpu"], ("dQ", "dK", "dV")):
            assert_close_rel(got, want, code, name)
