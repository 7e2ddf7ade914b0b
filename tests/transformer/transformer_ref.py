"""float64 numpy references for the Transformer layers (independent of ember's ops)."""

from __future__ import annotations

import math

import numpy as np

import ember

_erf = np.vectorize(math.erf)


def params(module) -> dict:
    """state_dict as float64 numpy arrays."""
    return {k: np.asarray(v, dtype=np.float64) for k, v in module.state_dict().items()}


def randomize(module, rng, scale: float = 0.3) -> None:
    """Give every parameter random values (biases and norm weights too)."""
    with ember.no_grad():
        for _, p in module.named_parameters():
            p.copy_(ember.tensor(rng.standard_normal(p.shape).astype(np.float32) * scale))


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def relu(x):
    return np.maximum(x, 0.0)


def layer_norm(x, w=None, b=None, eps=1e-5, ndims=1):
    axes = tuple(range(x.ndim - ndims, x.ndim))
    mu = x.mean(axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def rms_norm(x, w=None, eps=None, ndims=1):
    if eps is None:
        eps = float(np.finfo(np.float32).eps)
    axes = tuple(range(x.ndim - ndims, x.ndim))
    y = x / np.sqrt((x * x).mean(axes, keepdims=True) + eps)
    return y * w if w is not None else y


def softmax(s, axis=-1):
    m = s.max(axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    return e / e.sum(axis, keepdims=True)


def mha(p, prefix, q_in, k_in, v_in, num_heads, mask=None):
    """Batch-first (N, L, E) multi-head attention; mask is an additive float array
    broadcastable to (N, H, L, S). Returns (output (N, L, E), weights (N, H, L, S))."""
    w, b = p[prefix + "in_proj_weight"], p.get(prefix + "in_proj_bias")
    e = w.shape[1]
    bias = b if b is not None else np.zeros(3 * e)
    q = q_in @ w[:e].T + bias[:e]
    k = k_in @ w[e : 2 * e].T + bias[e : 2 * e]
    v = v_in @ w[2 * e :].T + bias[2 * e :]
    n, lq, _ = q.shape
    s_len = k.shape[1]
    d = e // num_heads

    def heads(x, t):
        return x.reshape(n, t, num_heads, d).transpose(0, 2, 1, 3)

    qh, kh, vh = heads(q, lq), heads(k, s_len), heads(v, s_len)
    s = qh @ kh.transpose(0, 1, 3, 2) / math.sqrt(d)
    if mask is not None:
        s = s + mask
    a = softmax(s)
    o = (a @ vh).transpose(0, 2, 1, 3).reshape(n, lq, e)
    out = o @ p[prefix + "out_proj.weight"].T
    if prefix + "out_proj.bias" in p:
        out = out + p[prefix + "out_proj.bias"]
    return out, a


def _ln(p, name, x, eps):
    return layer_norm(x, p[name + ".weight"], p.get(name + ".bias"), eps)


def _ff(p, x, act):
    h = x @ p["linear1.weight"].T + p.get("linear1.bias", 0.0)
    h = relu(h) if act == "relu" else gelu(h)
    return h @ p["linear2.weight"].T + p.get("linear2.bias", 0.0)


def encoder_layer(p, x, nhead, norm_first, act="relu", mask=None, eps=1e-5):
    """Batch-first numpy TransformerEncoderLayer (eval mode)."""

    def sa(z):
        return mha(p, "self_attn.", z, z, z, nhead, mask)[0]

    if norm_first:
        x = x + sa(_ln(p, "norm1", x, eps))
        return x + _ff(p, _ln(p, "norm2", x, eps), act)
    x = _ln(p, "norm1", x + sa(x), eps)
    return _ln(p, "norm2", x + _ff(p, x, act), eps)


def decoder_layer(p, x, mem, nhead, norm_first, act="relu", tgt_mask=None, mem_mask=None):
    """Batch-first numpy TransformerDecoderLayer (eval mode)."""
    eps = 1e-5

    def sa(z):
        return mha(p, "self_attn.", z, z, z, nhead, tgt_mask)[0]

    def ca(z):
        return mha(p, "multihead_attn.", z, mem, mem, nhead, mem_mask)[0]

    if norm_first:
        x = x + sa(_ln(p, "norm1", x, eps))
        x = x + ca(_ln(p, "norm2", x, eps))
        return x + _ff(p, _ln(p, "norm3", x, eps), act)
    x = _ln(p, "norm1", x + sa(x), eps)
    x = _ln(p, "norm2", x + ca(x), eps)
    return _ln(p, "norm3", x + _ff(p, x, act), eps)


def gpt_forward(p, idx, n_layer, n_head):
    """numpy nanoGPT forward -> logits (B, T, V)."""
    b, t = idx.shape
    x = p["transformer.wte.weight"][idx] + p["transformer.wpe.weight"][:t]
    causal = np.triu(np.full((t, t), -np.inf), 1)
    for i in range(n_layer):
        pre = f"transformer.h.{i}."
        h = layer_norm(x, p[pre + "ln_1.weight"], p.get(pre + "ln_1.bias"))
        qkv = h @ p[pre + "attn.c_attn.weight"].T + p.get(pre + "attn.c_attn.bias", 0.0)
        c = x.shape[-1]
        d = c // n_head
        q, k, v = (
            qkv[..., j * c : (j + 1) * c].reshape(b, t, n_head, d).transpose(0, 2, 1, 3)
            for j in range(3)
        )
        a = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + causal)
        y = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
        x = x + y @ p[pre + "attn.c_proj.weight"].T + p.get(pre + "attn.c_proj.bias", 0.0)
        h = layer_norm(x, p[pre + "ln_2.weight"], p.get(pre + "ln_2.bias"))
        h = gelu(h @ p[pre + "mlp.c_fc.weight"].T + p.get(pre + "mlp.c_fc.bias", 0.0))
        x = x + h @ p[pre + "mlp.c_proj.weight"].T + p.get(pre + "mlp.c_proj.bias", 0.0)
    x = layer_norm(x, p["transformer.ln_f.weight"], p.get("transformer.ln_f.bias"))
    return x @ p["lm_head.weight"].T
