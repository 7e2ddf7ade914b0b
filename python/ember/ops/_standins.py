"""TEMPORARY composite stand-ins for kernels that other branches provide (flash attention,
layer/rms norm, fused linear+activation, fused cross-entropy). Correct but slow; built
only from existing ember ops. The coordinator deletes this file at merge, together with
the block in nn/functional.py that imports it. Nothing else may import it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import _dtype as D
from ..tensor import Tensor
from . import linalg as _linalg
from .creation import ones, zeros
from .elementwise import gelu, relu, rsqrt, where
from .index import gather
from .reduce import log_softmax, mean, softmax
from .reduce import sum as _sum


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    layout: str = "BHTD",
) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v (stand-in). Shape: (B, H, Tq, D) with
    layout "BHTD" or (B, Tq, H, D) with "BTHD"; attn_mask broadcasts to (B, H, Tq, Tk)."""
    if dropout_p != 0.0:
        raise ValueError("ember.scaled_dot_product_attention: dropout_p must be 0")
    if layout not in ("BHTD", "BTHD"):
        raise ValueError(f"ember.scaled_dot_product_attention: unknown layout {layout!r}")
    q, k, v = query, key, value
    if layout == "BTHD":
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"ember.scaled_dot_product_attention: head dims differ: query {tuple(query.shape)}, "
            f"key {tuple(key.shape)}"
        )
    h, hk = q.shape[1], k.shape[1]
    if hk != h:
        if not enable_gqa or h % hk:
            raise ValueError(
                f"ember.scaled_dot_product_attention: {h} query heads and {hk} key heads "
                "(pass enable_gqa=True with a divisible count)"
            )
        rep = h // hk
        b, _, tk, d = k.shape
        k = k.unsqueeze(2).expand(b, hk, rep, tk, d).reshape(b, h, tk, d)
        v = v.unsqueeze(2).expand(b, hk, rep, tk, v.shape[-1]).reshape(b, h, tk, v.shape[-1])
    sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.mT) * sc
    tq, tk = s.shape[-2], s.shape[-1]
    if is_causal:
        from .creation import arange

        banned = arange(tk).unsqueeze(0) > arange(tq).unsqueeze(1)
        s = s.masked_fill(banned, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype is D.bool_:
            s = s.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            s = s + attn_mask
    out = softmax(s, -1) @ v
    if layout == "BTHD":
        out = out.transpose(1, 2).contiguous()
    return out


def layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int] | int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing dims (stand-in)."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(ns) :]) != ns:
        raise ValueError(
            f"ember.layer_norm: input of shape {tuple(input.shape)} does not end with "
            f"normalized_shape {ns}"
        )
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    mu = mean(input, dims, keepdim=True)
    xc = input - mu
    var = mean(xc * xc, dims, keepdim=True)
    y = xc * rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(
    input: Tensor,
    normalized_shape: Sequence[int] | int,
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the trailing dims (stand-in)."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(ns) :]) != ns:
        raise ValueError(
            f"ember.rms_norm: input of shape {tuple(input.shape)} does not end with "
            f"normalized_shape {ns}"
        )
    if eps is None:
        eps = 1.1920928955078125e-07 if input.dtype is not D.float64 else 2.220446049250313e-16
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    y = input * rsqrt(mean(input * input, dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


def linear(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str = "none"
) -> Tensor:
    """act(input @ weight.T + bias) (stand-in: linear then the activation)."""
    y = _linalg.linear(input, weight, bias)
    if activation == "none":
        return y
    if activation == "relu":
        return relu(y)
    if activation == "gelu":
        return gelu(y)
    if activation == "gelu_tanh":
        return gelu(y, approximate="tanh")
    raise ValueError(f"ember.linear: unknown activation {activation!r}")


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy with class-index targets (stand-in). Shape: input (N, C) or
    (C,), target (N,) or (); (N,) for reduction='none', else a scalar."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"ember.cross_entropy: unknown reduction {reduction!r}")
    x, t = input, target
    if x.ndim == 1:
        x, t = x.unsqueeze(0), t.reshape(1)
    if x.ndim != 2 or t.shape != (x.shape[0],):
        raise ValueError(
            f"ember.cross_entropy: input {tuple(input.shape)} and target {tuple(target.shape)} "
            "(the stand-in supports (N, C) with (N,))"
        )
    n, c = x.shape
    logp = log_softmax(x, 1)
    valid = t != ignore_index
    safe = where(valid, t.long(), zeros(1, dtype=D.int64))
    w = weight if weight is not None else ones(c, dtype=x.dtype)
    wt = gather(w, 0, safe) * valid.to(x.dtype)  # per-sample weight, 0 when ignored
    nll = -gather(logp, 1, safe.unsqueeze(1)).reshape(n) * wt
    loss = nll * (1.0 - label_smoothing) if label_smoothing else nll
    if label_smoothing:
        smooth = -_sum(logp * w, 1) * valid.to(x.dtype) / c
        loss = loss + smooth * label_smoothing
    if reduction == "none":
        return loss if input.ndim == 2 else loss.reshape(())
    if reduction == "sum":
        return _sum(loss)
    return _sum(loss) / _sum(wt)
