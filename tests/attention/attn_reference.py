"""float64 numpy references for scaled-dot-product attention: the forward as
softmax(q k^T * scale + mask) v over (B, H, T, D) arrays, and its gradients derived by hand
(dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = scale dS K,
dK = scale dS^T Q; kv heads shared by groups of q heads sum their group's gradients).
Rows with every key masked give zeros (ember's convention; PyTorch gives NaN)."""

from __future__ import annotations

import numpy as np


def probs(q, k, scale, causal, mask):
    """softmax(q k^T * scale + mask) over the key dim (k already repeated per q head)."""
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        tq, tk = s.shape[-2:]
        s = np.where(np.tril(np.ones((tq, tk), bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    l = p.sum(-1, keepdims=True)
    return np.where(l > 0, p / np.where(l > 0, l, 1.0), 0.0)


def attention(q, k, v, scale=None, causal=False, mask=None, go=None):
    """out, or (out, dq, dk, dv) when go (the output gradient) is given. (B, H, T, D)."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    g = q.shape[1] // k.shape[1]
    kr, vr = np.repeat(k, g, 1), np.repeat(v, g, 1)
    if mask is not None and mask.dtype != bool:
        mask = mask.astype(np.float64)
    p = probs(q, kr, scale, causal, mask)
    out = p @ vr
    if go is None:
        return out
    go = np.asarray(go, np.float64)
    dp = go @ vr.swapaxes(-1, -2)
    dvr = p.swapaxes(-1, -2) @ go
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    dq = ds @ kr
    dkr = ds.swapaxes(-1, -2) @ q
    b, h, tk, d = dkr.shape
    dk = dkr.reshape(b, h // g, g, tk, d).sum(2)
    dv = dvr.reshape(b, h // g, g, tk, d).sum(2)
    return out, dq, dk, dv
