"""ember.nn.functional.scaled_dot_product_attention: both layouts, masks, GQA, strided
views, gradients (numpy reference and gradcheck), bf16, errors, and O(T * D) memory."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from attn_reference import attention

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

SDPA = "ember.scaled_dot_product_attention"


def _t(a, grad=False):
    t = ember.from_numpy(np.ascontiguousarray(a))
    return t.requires_grad_() if grad else t


def _bhtd(a, layout):
    return a if layout == "BHTD" else a.transpose(0, 2, 1, 3)


@pytest.mark.parametrize("layout", ["BHTD", "BTHD"])
@pytest.mark.parametrize("causal", [False, True])
def test_layouts_gqa_mask_and_grads(isa, rng, layout, causal):
    B, Hq, Hkv, Tq, Tk, D = 2, 6, 2, 33, 70, 20
    q, k, v, go = (
        rng.standard_normal(s).astype(np.float32)
        for s in ((B, Hq, Tq, D), (B, Hkv, Tk, D), (B, Hkv, Tk, D), (B, Hq, Tq, D))
    )
    mask = np.ones((B, 1, 1, Tk), bool)
    mask[1, ..., 40:] = False
    tq, tk, tv = (_t(_bhtd(x, layout), True) for x in (q, k, v))
    out = F.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=_t(mask), is_causal=causal, enable_gqa=True, layout=layout
    )
    assert out.shape == _bhtd(go, layout).shape
    out.backward(_t(_bhtd(go, layout)))
    want = attention(q, k, v, causal=causal, mask=mask, go=go)
    got = (out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
    for g, w in zip(got, want):
        np.testing.assert_allclose(_bhtd(g, layout), w, rtol=2e-5, atol=2e-5)


def test_scale_additive_mask_and_3d_inputs(rng):
    N, Tq, Tk, D = 3, 9, 12, 5
    q, k, v = (rng.standard_normal((N, t, D)) for t in (Tq, Tk, Tk))
    mask = rng.standard_normal((N, Tq, Tk))
    out = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(mask), scale=0.7)
    want = attention(q[:, None], k[:, None], v[:, None], scale=0.7, mask=mask[:, None])[:, 0]
    assert out.shape == (N, Tq, D) and out.dtype == ember.float64
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)


def test_fused_qkv_views_need_no_copies(rng):
    """q, k, v sliced out of one (B, T, 3, H, D) projection in the BTHD layout."""
    B, Tn, H, D = 2, 19, 2, 16
    qkv = _t(rng.standard_normal((B, Tn, 3 * H * D)).astype(np.float32), True)
    q, k, v = qkv.view(B, Tn, 3, H, D).unbind(2)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, layout="BTHD")
    out.sum().backward()
    x = qkv.detach().numpy().reshape(B, Tn, 3, H, D).transpose(2, 0, 3, 1, 4)
    go = np.ones((B, H, Tn, D))
    o, dq, dk, dv = attention(x[0], x[1], x[2], causal=True, go=go)
    np.testing.assert_allclose(out.detach().numpy(), o.transpose(0, 2, 1, 3), 2e-5, 2e-5)
    g = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B, Tn, 3 * H * D)
    np.testing.assert_allclose(qkv.grad.numpy(), g, 2e-5, 2e-5)


def test_kv_cache_prefix(rng):
    B, H, Tmax, D, t = 1, 2, 50, 8, 23
    kc, vc = (_t(rng.standard_normal((B, H, Tmax, D)).astype(np.float32)) for _ in range(2))
    q = _t(rng.standard_normal((B, H, 1, D)).astype(np.float32))
    out = F.scaled_dot_product_attention(q, kc[:, :, :t], vc[:, :, :t])
    want = attention(q.numpy(), kc.numpy()[:, :, :t], vc.numpy()[:, :, :t])
    np.testing.assert_allclose(out.numpy(), want, 2e-5, 2e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(rng, causal):
    q, k, v = (_t(rng.standard_normal((1, 2, 4, 3)), True) for _ in range(3))
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal), [q, k, v]
    )


def test_gradcheck_gqa_masked_bthd(rng):
    q = _t(rng.standard_normal((1, 3, 4, 2)), True)
    k, v = (_t(rng.standard_normal((1, 5, 2, 2)), True) for _ in range(2))
    mask = _t(rng.standard_normal((3, 5)))
    fn = lambda a, b, c: F.scaled_dot_product_attention(  # noqa: E731
        a, b, c, attn_mask=mask, enable_gqa=True, layout="BTHD"
    )
    assert gradcheck(fn, [q, k, v])


def test_bfloat16_inputs(isa, rng):
    B, H, Tn, D = 1, 2, 40, 32
    q, k, v = (rng.standard_normal((B, H, Tn, D)).astype(np.float32) for _ in range(3))
    tq, tk, tv = (_t(x).to(ember.bfloat16).requires_grad_() for x in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    assert out.dtype == ember.bfloat16
    out.float().sum().backward()
    assert tq.grad.dtype == ember.bfloat16
    qb, kb, vb = (x.detach().float().numpy() for x in (tq, tk, tv))
    o, dq, dk, dv = attention(qb, kb, vb, causal=True, go=np.ones((B, H, Tn, D)))
    np.testing.assert_allclose(out.float().detach().numpy(), o, rtol=2e-2, atol=2e-2)
    for g, w in ((tq, dq), (tk, dk), (tv, dv)):
        np.testing.assert_allclose(g.grad.float().numpy(), w, rtol=3e-2, atol=3e-2)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    q, k, v = (rng.standard_normal((2, 3, 17, 8)).astype(np.float32) for _ in range(3))
    mask = rng.random((17, 17)) < 0.8
    np.fill_diagonal(mask, True)
    got = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(mask))
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(x) for x in (q, k, v)), attn_mask=torch.from_numpy(mask)
    )
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def _qkv(shapes, dtype=np.float32):
    return [_t(np.ones(s, dtype)) for s in shapes]


@pytest.mark.parametrize(
    "shapes, kwargs, exc, match",
    [
        ([(1, 2, 3, 4), (1, 2, 5, 8), (1, 2, 5, 4)], {}, ValueError, "mismatched head dims"),
        ([(1, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)], {}, ValueError, "batch sizes differ"),
        ([(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 6, 4)], {}, ValueError, "same shape"),
        ([(1, 2, 3, 300), (1, 2, 5, 300), (1, 2, 5, 300)], {}, ValueError, "D = 300"),
        ([(1, 4, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)], {}, ValueError, "enable_gqa=True"),
        (
            [(1, 3, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)],
            {"enable_gqa": True},
            ValueError,
            "multiple of key/value heads 2",
        ),
        ([(3, 4), (3, 4), (3, 4)], {}, ValueError, r"expected 4-D \(B, H, T, D\)"),
        ([(1, 2, 3, 4)] * 3, {"dropout_p": 0.1}, ValueError, "dropout in attention"),
        ([(1, 2, 3, 4)] * 3, {"layout": "BHDT"}, ValueError, "layout must be"),
        ([(1, 2, 3, 4)] * 3, {"attn_mask": (2, 3, 3, 3)}, ValueError, "does not broadcast"),
        ([(1, 2, 3, 4)] * 3, {"attn_mask": (1, 1, 1, 2)}, ValueError, r"\(1, 2, 3, 3\)"),
    ],
)
def test_errors(shapes, kwargs, exc, match):
    q, k, v = _qkv(shapes)
    if "attn_mask" in kwargs:
        kwargs = dict(kwargs, attn_mask=_t(np.ones(kwargs["attn_mask"], bool)))
    with pytest.raises(exc, match=f"{SDPA}: .*{match}" if match[0] != "(" else match):
        F.scaled_dot_product_attention(q, k, v, **kwargs)


def test_dtype_errors():
    q, k = _qkv([(1, 1, 2, 4)] * 2)
    (v,) = _qkv([(1, 1, 2, 4)], np.float64)
    with pytest.raises(TypeError, match=f"{SDPA}: query, key and value must have one dtype"):
        F.scaled_dot_product_attention(q, k, v)
    i = _t(np.ones((1, 1, 2, 4), np.int32))
    with pytest.raises(TypeError, match=f"{SDPA}: needs floating-point tensors"):
        F.scaled_dot_product_attention(i, i, i)
    with pytest.raises(TypeError, match="attn_mask must be bool"):
        F.scaled_dot_product_attention(q, k, q, attn_mask=_t(np.ones((2, 2), np.int32)))


def test_binding_errors():
    import ember._C as _C

    T = _C.TensorImpl.from_buffer
    q = np.ones((1, 2, 3, 4), np.float32)
    lse = np.ones((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match=f"{SDPA}: mismatched head dims"):
        _C.attention_forward(T(q), T(q[..., :2]), T(q), None, T(q.copy()), T(lse), False, 1.0)
    with pytest.raises(ValueError, match=f"{SDPA}: head dim D = 257"):
        big = np.ones((1, 1, 2, 257), np.float32)
        _C.attention_forward(
            T(big), T(big), T(big), None, T(big.copy()), T(lse[:, :1, :2]), False, 1.0
        )
    with pytest.raises(ValueError, match="out .* overlaps query"):
        _C.attention_forward(T(q), T(q), T(q), None, T(q), T(lse), False, 1.0)
    with pytest.raises(ValueError, match="unit stride along the head dim"):
        qt = np.ones((1, 2, 4, 3), np.float32).swapaxes(-1, -2)
        _C.attention_forward(T(qt), T(q), T(q), None, T(q.copy()), T(lse), False, 1.0)
    with pytest.raises(ValueError, match="query heads 2 must be a multiple"):
        k3 = np.ones((1, 3, 3, 4), np.float32)
        _C.attention_forward(T(q), T(k3), T(k3), None, T(q.copy()), T(lse), False, 1.0)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(1, 1, 3, 2\) does not broadcast"):
        m = np.ones((1, 1, 3, 2), bool)
        _C.attention_forward(T(q), T(q), T(q), T(m), T(q.copy()), T(lse), False, 1.0)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, ember
    import ember.nn.functional as F

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    T, D = 8192, 64
    rng = np.random.default_rng(0)
    q, k, v = (ember.from_numpy(rng.standard_normal((1, 1, T, D)).astype(np.float32))
               .requires_grad_() for _ in range(3))
    g = ember.from_numpy(rng.standard_normal((1, 1, T, D)).astype(np.float32))
    # warm up allocator pools and thread stacks on a small problem
    F.scaled_dot_product_attention(q[:, :, :256], k[:, :, :256], v[:, :, :256]).sum().backward()
    q.grad = k.grad = v.grad = None
    base = hwm()
    with ember.no_grad():
        F.scaled_dot_product_attention(q, k, v)
    fwd = hwm()
    F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
    print(fwd - base, hwm() - base)
    """
)


def test_memory_is_linear_in_t():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.path.dirname(ember.__path__[0]), env.get("PYTHONPATH")])
    )
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, env=env, check=True
    ).stdout
    fwd, bwd = (int(x) for x in out.split())
    tt = 8192 * 8192 * 4  # the score matrix: 256 MB
    # O(T * D): inputs / outputs / packed panels are 2 MB each.
    assert fwd < tt // 16, fwd
    assert bwd < tt // 16, bwd
