"""ember.nn.functional.varlen_attention (packed variable-length sequences) against the float64
numpy reference run on each sequence alone, under every ISA: lengths 0, 1, primes and ones
past the 64-row / 128-key blocks, causal, grouped-query attention, different query and key
lengths, strided views of a fused projection; gradients, gradcheck, 1 vs 2 threads
bitwise, and the argument errors."""

import ember._C as _C
import numpy as np
import pytest
from attn_reference import attention

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

LENS = [5, 0, 1, 131, 67, 3, 200]


def _t(a, grad=False):
    return ember.tensor(a, requires_grad=grad)


def _offsets(lens):
    return np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)


def _reference(q, k, v, go, cu_q, cu_k, causal):
    """Per sequence: the (1, H, T, D) reference on its own rows; (out, dq, dk, dv) packed."""
    out, dq = np.zeros(q.shape), np.zeros(q.shape)
    dk, dv = np.zeros(k.shape), np.zeros(v.shape)
    for s in range(len(cu_q) - 1):
        rq, rk = slice(cu_q[s], cu_q[s + 1]), slice(cu_k[s], cu_k[s + 1])
        if rq.stop == rq.start or rk.stop == rk.start:
            continue  # no scores: zero outputs and gradients
        bhtd = lambda x: x[None].transpose(0, 2, 1, 3)  # noqa: E731  (T, H, D) -> (1, H, T, D)
        o, gq, gk, gv = attention(
            bhtd(q[rq]), bhtd(k[rk]), bhtd(v[rk]), causal=causal, go=bhtd(go[rq])
        )
        back = lambda x: x[0].transpose(1, 0, 2)  # noqa: E731
        out[rq], dq[rq], dk[rk], dv[rk] = back(o), back(gq), back(gk), back(gv)
    return out, dq, dk, dv


def _run(q, k, v, go, cu_q, cu_k, causal, enable_gqa=False):
    qt, kt, vt = (_t(x, True) for x in (q, k, v))
    out = F.varlen_attention(qt, kt, vt, cu_q, cu_k, is_causal=causal, enable_gqa=enable_gqa)
    out.backward(_t(go))
    return out.detach().numpy(), qt.grad.numpy(), kt.grad.numpy(), vt.grad.numpy()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads,d", [(2, 32), (3, 1), (1, 80)])
def test_matches_per_sequence_reference(isa, rng, causal, heads, d):
    cu = _offsets(LENS)
    q, k, v, go = (rng.standard_normal((cu[-1], heads, d)).astype(np.float32) for _ in range(4))
    got = _run(q, k, v, go, cu, None, causal)
    for g, w in zip(got, _reference(q, k, v, go, cu, cu, causal)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)


def test_gqa_and_different_key_lengths(isa, rng):
    lq, lk = [7, 1, 70, 0, 3], [9, 130, 2, 4, 0]
    cu_q, cu_k = _offsets(lq), _offsets(lk)
    q, go = (rng.standard_normal((cu_q[-1], 4, 16)).astype(np.float32) for _ in range(2))
    k, v = (rng.standard_normal((cu_k[-1], 2, 16)).astype(np.float32) for _ in range(2))
    for causal in (False, True):
        got = _run(q, k, v, go, cu_q, cu_k, causal, enable_gqa=True)
        want = _reference(q, np.repeat(k, 2, 1), np.repeat(v, 2, 1), go, cu_q, cu_k, causal)
        # kv heads shared by two q heads get their group's summed gradients
        want = (*want[:2], *(w.reshape(w.shape[0], 2, 2, 16).sum(2) for w in want[2:]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)


def test_float64_and_views_of_a_fused_projection(rng):
    cu = _offsets(LENS)
    n, heads, d = cu[-1], 2, 8
    qkv = rng.standard_normal((n, 3, heads, d))
    go = rng.standard_normal((n, heads, d))
    fused = _t(qkv, True)
    out = F.varlen_attention(fused[:, 0], fused[:, 1], fused[:, 2], ember.tensor(cu))
    out.backward(_t(go))
    want = _reference(qkv[:, 0], qkv[:, 1], qkv[:, 2], go, cu, cu, False)
    np.testing.assert_allclose(out.detach().numpy(), want[0], rtol=1e-12, atol=1e-12)
    grads = fused.grad.numpy()
    for i in range(3):
        np.testing.assert_allclose(grads[:, i], want[i + 1], rtol=1e-12, atol=1e-12)


def test_equals_padded_sdpa_with_a_key_padding_mask(rng):
    """What Bert's packed forward relies on: the real rows of masked batched attention."""
    lens = [9, 70, 1, 33]
    b, t, heads, d = len(lens), max(lens), 3, 16
    x = rng.standard_normal((b, t, 3, heads, d)).astype(np.float32)
    keep = np.arange(t)[None, :] < np.array(lens)[:, None]
    padded = F.scaled_dot_product_attention(
        *(_t(x[:, :, i]) for i in range(3)), attn_mask=_t(keep[:, None, None]), layout="BTHD"
    ).numpy()[keep]
    packed = F.varlen_attention(*(_t(x[keep][:, i]) for i in range(3)), _offsets(lens)).numpy()
    np.testing.assert_allclose(packed, padded, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(rng, causal):
    cu = _offsets([3, 1, 0, 4])
    q, k, v = (_t(rng.standard_normal((8, 2, 3)), True) for _ in range(3))
    assert gradcheck(lambda a, b, c: F.varlen_attention(a, b, c, cu, is_causal=causal), [q, k, v])


def test_one_vs_two_threads_bitwise(isa, rng):
    cu = _offsets([300, 7, 129, 1, 64, 65])
    q, k, v, go = (rng.standard_normal((cu[-1], 4, 24)).astype(np.float32) for _ in range(4))
    prev = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = _run(q, k, v, go, cu, None, True)
        _C.set_num_threads(2)
        two = _run(q, k, v, go, cu, None, True)
    finally:
        _C.set_num_threads(prev)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_bfloat16_inputs_compute_in_float32(rng):
    cu = _offsets([20, 45])
    x = [rng.standard_normal((65, 2, 32)).astype(np.float32) for _ in range(3)]
    out = F.varlen_attention(*(_t(a).to(ember.bfloat16) for a in x), cu)
    assert out.dtype is ember.bfloat16
    rounded = [_t(a).to(ember.bfloat16).float().numpy() for a in x]
    want = _reference(*rounded, np.zeros_like(x[0]), cu, cu, False)[0]
    np.testing.assert_allclose(out.float().numpy(), want, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    "cu,exc,match",
    [
        ([0, 5, 3, 8], ValueError, "non-decreasing"),
        ([1, 8], ValueError, "start at 0 and end at the packed length 8"),
        ([0, 7], ValueError, "end at the packed length 8"),
        (np.zeros(0, np.int64), ValueError, "1-D with"),
        (np.array([0.0, 8.0]), TypeError, "must hold integers"),
    ],
)
def test_bad_offsets(rng, cu, exc, match):
    q = _t(rng.standard_normal((8, 2, 4)).astype(np.float32))
    with pytest.raises(exc, match=match):
        F.varlen_attention(q, q, q, cu)


def test_bad_shapes_and_counts(rng):
    q = _t(rng.standard_normal((8, 2, 4)).astype(np.float32))
    k = _t(rng.standard_normal((6, 1, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="3-D packed"):
        F.varlen_attention(q.reshape(1, 8, 2, 4), q, q, [0, 8])
    with pytest.raises(ValueError, match="enable_gqa"):
        F.varlen_attention(q, k, k, [0, 8], [0, 6])
    with pytest.raises(ValueError, match="count the same sequences"):
        F.varlen_attention(q, k, k, [0, 8], [0, 3, 6], enable_gqa=True)
    with pytest.raises(TypeError, match="one floating dtype"):
        F.varlen_attention(q, q.double(), q, [0, 8])
