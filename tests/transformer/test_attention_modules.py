"""MultiheadAttention and the Transformer encoder/decoder layers vs float64 numpy
references, parameter names vs PyTorch's, gradients to every parameter; an optional
cross-check against torch when it is installed."""

import numpy as np
import pytest
from transformer_ref import decoder_layer, encoder_layer, mha, params, randomize

import ember
import ember.nn as nn


def _t(a, grad=False):
    return ember.tensor(np.asarray(a, dtype=np.float32), requires_grad=grad)


def _np(t):
    return np.asarray(t.detach(), dtype=np.float64)


def _seq_first(x, batch_first):
    """numpy batch-first (N, L, E) -> the module's layout."""
    return x if batch_first else x.transpose(1, 0, 2)


TOL = {"rtol": 2e-4, "atol": 2e-4}


# ---- MultiheadAttention -------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("e,h,n,lq", [(8, 2, 3, 5), (12, 3, 1, 1), (16, 4, 2, 17)])
def test_mha_self_attention(rng, batch_first, need_weights, e, h, n, lq):
    m = nn.MultiheadAttention(e, h, batch_first=batch_first)
    randomize(m, rng)
    x = rng.standard_normal((n, lq, e))
    xt = _t(_seq_first(x, batch_first))
    out, w = m(xt, xt, xt, need_weights=need_weights)
    ref, a = mha(params(m), "", x, x, x, h)
    np.testing.assert_allclose(_seq_first(_np(out), batch_first), ref, **TOL)
    if need_weights:
        np.testing.assert_allclose(_np(w), a.mean(1), **TOL)
    else:
        assert w is None


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_cross_attention_with_masks(rng, batch_first, need_weights):
    e, h, n, lq, s = 12, 3, 3, 4, 7
    m = nn.MultiheadAttention(e, h, batch_first=batch_first)
    randomize(m, rng)
    q = rng.standard_normal((n, lq, e))
    k = rng.standard_normal((n, s, e))
    v = rng.standard_normal((n, s, e))
    kpm = np.zeros((n, s), bool)
    kpm[0, 5:] = True
    kpm[2, :3] = True
    am = rng.random((lq, s)) < 0.25
    am[:, 4] = False  # key 4 stays visible to every query of every batch (no all-masked row)
    am[:, 6] = False
    out, w = m(
        _t(_seq_first(q, batch_first)),
        _t(_seq_first(k, batch_first)),
        _t(_seq_first(v, batch_first)),
        key_padding_mask=ember.tensor(kpm),
        attn_mask=ember.tensor(am),
        need_weights=need_weights,
        average_attn_weights=False,
    )
    add = np.where(am, -np.inf, 0.0)[None, None] + np.where(kpm, -np.inf, 0.0)[:, None, None]
    ref, a = mha(params(m), "", q, k, v, h, add)
    np.testing.assert_allclose(_seq_first(_np(out), batch_first), ref, **TOL)
    if need_weights:
        assert w.shape == (n, h, lq, s)
        np.testing.assert_allclose(_np(w), a, **TOL)


def test_mha_float_and_per_head_masks_and_causal(rng):
    e, h, n, t = 8, 2, 2, 6
    m = nn.MultiheadAttention(e, h, batch_first=True)
    randomize(m, rng)
    x = rng.standard_normal((n, t, e))
    xt = _t(x)
    fm = rng.standard_normal((n * h, t, t))
    out, _ = m(xt, xt, xt, attn_mask=_t(fm), need_weights=False)
    ref, _ = mha(params(m), "", x, x, x, h, fm.reshape(n, h, t, t))
    np.testing.assert_allclose(_np(out), ref, **TOL)
    causal = np.triu(np.full((t, t), -np.inf), 1)
    ref_c, _ = mha(params(m), "", x, x, x, h, causal)
    for nw in (False, True):
        out, _ = m(xt, xt, xt, is_causal=True, need_weights=nw)
        np.testing.assert_allclose(_np(out), ref_c, **TOL)
    kpm = np.zeros((n, t), bool)
    kpm[1, 4:] = True
    out, _ = m(xt, xt, xt, is_causal=True, key_padding_mask=ember.tensor(kpm), need_weights=False)
    ref_k, _ = mha(params(m), "", x, x, x, h, causal + np.where(kpm, -np.inf, 0.0)[:, None, None])
    np.testing.assert_allclose(_np(out), ref_k, **TOL)


def test_mha_unbatched_no_bias_and_key_is_value(rng):
    e, h = 8, 4
    m = nn.MultiheadAttention(e, h, bias=False)
    assert m.in_proj_bias is None and m.out_proj.bias is None
    randomize(m, rng)
    q = rng.standard_normal((3, e))
    kv = rng.standard_normal((5, e))
    out, w = m(_t(q), _t(kv), _t(kv))
    ref, a = mha(params(m), "", q[None], kv[None], kv[None], h)
    assert out.shape == (3, e) and w.shape == (3, 5)
    np.testing.assert_allclose(_np(out), ref[0], **TOL)
    np.testing.assert_allclose(_np(w), a.mean(1)[0], **TOL)


def test_mha_gradients_reach_every_parameter(rng):
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = _t(rng.standard_normal((2, 5, 8)), grad=True)
    mem = _t(rng.standard_normal((2, 3, 8)), grad=True)
    for need in (False, True):
        m.zero_grad()
        out, _ = m(x, mem, mem, need_weights=need)
        (out * _t(rng.standard_normal(out.shape))).sum().backward()
        for name, p in m.named_parameters():
            assert p.grad is not None and np.abs(np.asarray(p.grad)).sum() > 0, name
    assert x.grad is not None and mem.grad is not None


def test_mha_dropout_only_in_training(rng):
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = _t(rng.standard_normal((2, 6, 8)))
    ember.manual_seed(0)
    a = _np(m(x, x, x)[0])
    ember.manual_seed(1)
    b = _np(m(x, x, x)[0])
    assert not np.allclose(a, b)
    m.eval()
    np.testing.assert_allclose(_np(m(x, x, x)[0]), _np(m(x, x, x, need_weights=False)[0]), **TOL)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = ember.randn(2, 5, 8)
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=ember.zeros(2, 4, dtype=ember.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        m(x, x, x, attn_mask=ember.zeros(5, 4, dtype=ember.bool))
    with pytest.raises(ValueError, match="embed_dim"):
        m(ember.randn(2, 5, 6), x, x)
    with pytest.raises(NotImplementedError):
        nn.MultiheadAttention(8, 2, kdim=4)


# ---- encoder / decoder layers --------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_layer_vs_numpy(rng, norm_first, activation, batch_first):
    e, h, ff, n, t = 16, 4, 24, 2, 7
    layer = nn.TransformerEncoderLayer(
        e,
        h,
        ff,
        dropout=0.1,
        activation=activation,
        batch_first=batch_first,
        norm_first=norm_first,
    ).eval()
    randomize(layer, rng)
    x = rng.standard_normal((n, t, e))
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for kwargs, ref_mask in (({}, None), ({"src_mask": _t(mask)}, mask)):
        out = layer(_t(_seq_first(x, batch_first)), **kwargs)
        ref = encoder_layer(params(layer), x, h, norm_first, activation, ref_mask)
        np.testing.assert_allclose(_seq_first(_np(out), batch_first), ref, **TOL)
    out = layer(_t(_seq_first(x, batch_first)), is_causal=True)
    ref = encoder_layer(params(layer), x, h, norm_first, activation, mask)
    np.testing.assert_allclose(_seq_first(_np(out), batch_first), ref, **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_vs_numpy(rng, norm_first):
    e, h, ff, n, t, s = 12, 3, 20, 2, 5, 6
    layer = nn.TransformerDecoderLayer(
        e, h, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
    )
    randomize(layer, rng)
    x = rng.standard_normal((n, t, e))
    mem = rng.standard_normal((n, s, e))
    tmask = np.triu(np.full((t, t), -np.inf), 1)
    out = layer(_t(x), _t(mem), tgt_mask=_t(tmask))
    ref = decoder_layer(params(layer), x, mem, h, norm_first, "gelu", tgt_mask=tmask)
    np.testing.assert_allclose(_np(out), ref, **TOL)
    out = layer(_t(x), _t(mem), tgt_is_causal=True)
    np.testing.assert_allclose(_np(out), ref, **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_gradients_reach_every_parameter(rng, norm_first):
    enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, norm_first=norm_first)
    dec = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.1, norm_first=norm_first)
    x = _t(rng.standard_normal((5, 2, 8)))
    mem = enc(x)
    out = dec(_t(rng.standard_normal((4, 2, 8))), mem)
    (out * _t(rng.standard_normal(out.shape))).sum().backward()
    for mod in (enc, dec):
        for name, p in mod.named_parameters():
            assert p.grad is not None and np.abs(np.asarray(p.grad)).sum() > 0, name


def test_encoder_stack_copies_layers(rng):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, num_layers=3, norm=nn.LayerNorm(8))
    assert len(enc.layers) == 3
    a, b = enc.layers[0], enc.layers[1]
    assert a.linear1.weight.data_ptr() != b.linear1.weight.data_ptr()
    assert a.linear1.weight.data_ptr() != layer.linear1.weight.data_ptr()
    np.testing.assert_array_equal(_np(a.linear1.weight), _np(layer.linear1.weight))
    randomize(enc, rng)
    x = rng.standard_normal((2, 5, 8))
    out = enc(_t(x), is_causal=True)
    mask = np.triu(np.full((5, 5), -np.inf), 1)
    p = params(enc)
    ref = x
    for i in range(3):
        sub = {k[len(f"layers.{i}.") :]: v for k, v in p.items() if k.startswith(f"layers.{i}.")}
        ref = encoder_layer(sub, ref, 2, False, "relu", mask)
    from transformer_ref import layer_norm

    ref = layer_norm(ref, p["norm.weight"], p["norm.bias"])
    np.testing.assert_allclose(_np(out), ref, **TOL)
    keys = list(enc.state_dict())
    assert "layers.2.self_attn.in_proj_weight" in keys and "norm.bias" in keys
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, batch_first=True), 2)
    assert dec(_t(x), out).shape == (2, 5, 8)


def test_layer_errors():
    with pytest.raises(ValueError, match="d_model"):
        nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


EXPECTED_ENCODER_KEYS = [
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
]


def test_state_dict_names_match_torch_layout():
    assert list(nn.TransformerEncoderLayer(8, 2, 16).state_dict()) == EXPECTED_ENCODER_KEYS
    dec = list(nn.TransformerDecoderLayer(8, 2, 16).state_dict())
    assert dec[:4] == EXPECTED_ENCODER_KEYS[:4]
    assert "multihead_attn.in_proj_weight" in dec and "norm3.bias" in dec


# ---- torch cross-check (optional) --------------------------------------------------
def _load_from_torch(ours, theirs):
    sd = {k: ember.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    assert set(sd) == set(ours.state_dict())
    ours.load_state_dict(sd)


@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_cross_check(rng, norm_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = {"dropout": 0.0, "norm_first": norm_first, "activation": "gelu"}
    t_enc = torch.nn.TransformerEncoderLayer(16, 4, 32, **kw).eval()
    t_dec = torch.nn.TransformerDecoderLayer(16, 4, 32, **kw).eval()
    t_mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    enc = nn.TransformerEncoderLayer(16, 4, 32, **kw)
    dec = nn.TransformerDecoderLayer(16, 4, 32, **kw)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    for ours, theirs in ((enc, t_enc), (dec, t_dec), (m, t_mha)):
        _load_from_torch(ours, theirs)
    x = rng.standard_normal((7, 2, 16)).astype(np.float32)
    mem = rng.standard_normal((5, 2, 16)).astype(np.float32)
    kpm = np.zeros((2, 7), bool)
    kpm[1, 5:] = True
    with torch.no_grad():
        ref_e = t_enc(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm)).numpy()
        ref_d = t_dec(torch.from_numpy(x), torch.from_numpy(mem)).numpy()
        xb = torch.from_numpy(x.transpose(1, 0, 2).copy())
        ref_m, ref_w = t_mha(xb, xb, xb, key_padding_mask=torch.from_numpy(kpm))
    out_e = enc(_t(x), src_key_padding_mask=ember.tensor(kpm))
    np.testing.assert_allclose(_np(out_e), ref_e, **TOL)
    np.testing.assert_allclose(_np(dec(_t(x), _t(mem))), ref_d, **TOL)
    xb_e = _t(x.transpose(1, 0, 2))
    out_m, w = m(xb_e, xb_e, xb_e, key_padding_mask=ember.tensor(kpm))
    np.testing.assert_allclose(_np(out_m), ref_m.detach().numpy(), **TOL)
    np.testing.assert_allclose(_np(w), ref_w.detach().numpy(), **TOL)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_gradcheck_float64(rng, batch_first, need_weights):
    from ember.autograd import gradcheck

    m = nn.MultiheadAttention(6, 2, batch_first=batch_first).double()
    xs = ember.tensor(rng.standard_normal((2, 3, 6) if batch_first else (3, 2, 6)))
    xs.requires_grad_(True)
    mem = ember.tensor(rng.standard_normal((2, 4, 6) if batch_first else (4, 2, 6)))
    mem.requires_grad_(True)
    w = m.in_proj_weight  # perturbed in place by gradcheck; the module reads it

    def self_attn(inp, weight):
        return m(inp, inp, inp, need_weights=need_weights)[0]

    def cross_attn(inp, kv):
        return m(inp, kv, kv, need_weights=need_weights)[0]

    assert gradcheck(self_attn, (xs, w))
    assert gradcheck(cross_attn, (xs, mem))


def test_split_heads_views_and_gradient(rng):
    from ember.nn.activation import split_heads

    y = ember.tensor(rng.standard_normal((3, 4, 12)), requires_grad=True)
    for swap in (False, True):
        parts = split_heads(y, 3, 2, swap=swap)
        yn = np.asarray(y.detach())
        g = [rng.standard_normal(p.shape) for p in parts]
        ref = np.zeros_like(yn)
        for i, p in enumerate(parts):
            assert p.data_ptr() == y.data_ptr() + i * 4 * 8  # zero-copy views
            part = yn[..., i * 4 : (i + 1) * 4].reshape(3, 4, 2, 2)
            if swap:
                part = part.transpose(1, 0, 2, 3)
                ref[..., i * 4 : (i + 1) * 4] = g[i].transpose(1, 0, 2, 3).reshape(3, 4, 4)
            else:
                ref[..., i * 4 : (i + 1) * 4] = g[i].reshape(3, 4, 4)
            np.testing.assert_array_equal(np.asarray(p.detach()), part)
        y.grad = None
        sum((p * ember.tensor(gi)).sum() for p, gi in zip(parts, g)).backward()
        np.testing.assert_allclose(np.asarray(y.grad), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="split_heads"):
        split_heads(y, 5, 2)
