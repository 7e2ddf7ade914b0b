"""Activation modules and multi-head attention (PyTorch's names and parameter layout)."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from .._primitives import copy_into
from .._primitives import empty as _empty
from ..autograd.function import Context, Function
from ..ops.creation import arange, empty
from ..ops.elementwise import where
from ..ops.shape import _as_view
from ..tensor import Tensor
from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


class ReLU(Module):
    """max(x, 0). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)


class GELU(Module):
    """x * Phi(x) (``approximate='none'``) or its tanh approximation. Shape: any -> same."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"ember.nn.GELU: approximate must be 'none' or 'tanh', got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """tanh(x). Shape: any -> same."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)). Shape: any -> same."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class SiLU(Module):
    """x * sigmoid(x). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)


class Softmax(Module):
    """softmax along ``dim``. Shape: any -> same."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim
        if dim is None:  # PyTorch's legacy choice for dim=None
            dim = 0 if input.ndim in (0, 1, 3) else 1
        return F.softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log_softmax along ``dim``. Shape: any -> same."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim
        if dim is None:  # PyTorch's legacy choice for dim=None
            dim = 0 if input.ndim in (0, 1, 3) else 1
        return F.log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _Elementwise(Module):
    """An activation module over one F function and its keyword settings."""

    _settings: tuple[str, ...] = ()

    def __init__(self, **settings: Any):
        super().__init__()
        for name, value in settings.items():
            setattr(self, name, value)

    def _fn(self, input: Tensor, **settings: Any) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, **{k: getattr(self, k) for k in self._settings})

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in self._settings)


class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. Shape: any -> same."""

    _settings = ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha=alpha, inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.elu(input, **kw)


class CELU(_Elementwise):
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise. Shape: any -> same."""

    _settings = ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha=alpha, inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.celu(input, **kw)


class SELU(_Elementwise):
    """Self-normalizing ELU. Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.selu(input)


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise. Shape: any -> same."""

    _settings = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__(negative_slope=negative_slope, inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.leaky_relu(input, **kw)


class Hardtanh(_Elementwise):
    """x clamped into [min_val, max_val]. Shape: any -> same."""

    _settings = ("min_val", "max_val")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.hardtanh(input, **kw)


class ReLU6(_Elementwise):
    """min(max(x, 0), 6). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.relu6(input)


class Hardsigmoid(_Elementwise):
    """clamp(x / 6 + 1/2, 0, 1). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.hardsigmoid(input)


class Hardswish(_Elementwise):
    """x * hardsigmoid(x). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.hardswish(input)


class Mish(_Elementwise):
    """x * tanh(softplus(x)). Shape: any -> same."""

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.mish(input)


class Softplus(_Elementwise):
    """log(1 + exp(beta * x)) / beta (x above the threshold). Shape: any -> same."""

    _settings = ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__(beta=beta, threshold=threshold)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.softplus(input, **kw)


class LogSigmoid(_Elementwise):
    """log(sigmoid(x)). Shape: any -> same."""

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.logsigmoid(input)


class Softsign(_Elementwise):
    """x / (1 + |x|). Shape: any -> same."""

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.softsign(input)


class GLU(_Elementwise):
    """a * sigmoid(b) for the halves a, b along ``dim``. Shape: (..., 2n, ...) -> (..., n, ...)."""

    _settings = ("dim",)

    def __init__(self, dim: int = -1):
        super().__init__(dim=dim)

    def _fn(self, input: Tensor, **kw: Any) -> Tensor:
        return F.glu(input, **kw)


class SplitHeads(Function):
    """(A, B, parts * H * D) -> ``parts`` zero-copy (A, B, H, D) views (or (B, A, H, D)
    with ``swap``), as ONE op: the backward writes the gradients into one buffer instead
    of summing ``parts`` zero-padded slice gradients."""

    @staticmethod
    def forward(ctx: Context, y: Tensor, parts: int, heads: int, swap: bool) -> tuple:
        a, b, pe = y.shape
        e = pe // parts
        d = e // heads
        s0, s1, _ = y.stride()
        shape, strides = ((b, a), (s1, s0)) if swap else ((a, b), (s0, s1))
        ctx.meta = (tuple(y.shape), parts, heads, swap)
        off = y.storage_offset()
        return tuple(
            _as_view(y, (*shape, heads, d), (*strides, d, 1), off + i * e) for i in range(parts)
        )

    @staticmethod
    def backward(ctx: Context, *grads: Tensor) -> tuple:
        (a, b, pe), parts, heads, swap = ctx.meta
        e = pe // parts
        d = e // heads
        out = _empty((a, b, pe), grads[0].dtype, grads[0].device)
        shape, strides = ((b, a), (pe, b * pe)) if swap else ((a, b), (b * pe, pe))
        for i, g in enumerate(grads):
            copy_into(g, _as_view(out, (*shape, heads, d), (*strides, d, 1), i * e))
        return out, None, None, None


def split_heads(y: Tensor, parts: int, heads: int, swap: bool = False) -> tuple:
    """Split the last dimension of a (A, B, parts * E) projection into ``parts`` tensors
    of shape (A, B, heads, E // heads) ((B, A, ...) with ``swap``) that are views of y.

    Shape: (A, B, parts * E) -> parts x (A, B, heads, E // heads).
    """
    if y.ndim != 3 or y.shape[-1] % (parts * heads):
        raise ValueError(
            f"ember.split_heads: cannot split shape {tuple(y.shape)} into {parts} x {heads} heads"
        )
    if y.stride()[-1] != 1:
        y = y.contiguous()
    out = SplitHeads.apply(y, parts, heads, swap)
    return out if isinstance(out, tuple) else (out,)


def _additive(mask: Tensor | None, dtype: D.dtype, op: str, name: str) -> Tensor | None:
    """A float mask to add to the scores: bool masks (True = not allowed, the
    MultiheadAttention convention) become -inf / 0; float masks are used as they are."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"ember.{op}: {name} must be a Tensor, got {type(mask).__name__}")
    if mask.dtype is D.bool_:
        return where(mask, float("-inf"), 0.0).to(dtype)
    if not mask.dtype.is_floating_point:
        raise TypeError(f"ember.{op}: {name} must be bool or floating, got {mask.dtype}")
    return mask.to(dtype)


def _causal_mask(tq: int, tk: int, dtype: D.dtype) -> Tensor:
    return where(arange(tk).unsqueeze(0) > arange(tq).unsqueeze(1), float("-inf"), 0.0).to(dtype)


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters (``in_proj_weight`` (3E, E),
    ``in_proj_bias`` (3E,), ``out_proj``), so a torch ``state_dict`` loads as is.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None)``.
    Masks follow ``torch.nn.MultiheadAttention``: boolean True means "may not attend",
    float masks are added to the scores. ``is_causal=True`` without ``attn_mask`` applies
    a causal mask. With ``need_weights=False`` (and no attention dropout in training) the
    heads run through ``F.scaled_dot_product_attention`` as one fused op on zero-copy
    views of the projections; ``need_weights=True`` computes the weights explicitly.

    Shape: query (L, N, E) ((N, L, E) with batch_first, or (L, E) unbatched), key and
    value (S, N, E); key_padding_mask (N, S); attn_mask (L, S) or (N * num_heads, L, S)
    -> output like query, weights (N, L, S) averaged over heads or (N, num_heads, L, S).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"ember.nn.MultiheadAttention: embed_dim and num_heads must be positive, got "
                f"{embed_dim} and {num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"ember.nn.MultiheadAttention: embed_dim {embed_dim} is not divisible by "
                f"num_heads {num_heads}"
            )
        if (kdim not in (None, embed_dim)) or (vdim not in (None, embed_dim)):
            raise NotImplementedError(
                "ember.nn.MultiheadAttention: kdim/vdim different from embed_dim are not supported"
            )
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(
                "ember.nn.MultiheadAttention: add_bias_kv and add_zero_attn are not supported"
            )
        self.embed_dim = embed_dim
        self.kdim = self.vdim = embed_dim
        self._qkv_same_embed_dim = True
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dt, device=device))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dt, device=device))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    # The projections return (N, T, H, D) views (unit stride on D) of one GEMM output.
    def _heads(self, y: Tensor, parts: int) -> tuple:
        """y: (A, B, parts * E) in the caller's layout -> `parts` (N, T, H, D) views."""
        return split_heads(y, parts, self.num_heads, swap=not self.batch_first)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> list[Tensor]:
        w, b, e = self.in_proj_weight, self.in_proj_bias, self.embed_dim
        if query is key and key is value:
            return self._heads(F.linear(query, w, b), 3)
        bq = None if b is None else b[:e]
        q = self._heads(F.linear(query, w[:e], bq), 1)[0]
        if key is value:
            k, v = self._heads(F.linear(key, w[e:], None if b is None else b[e:]), 2)
        else:
            k = self._heads(F.linear(key, w[e : 2 * e], None if b is None else b[e : 2 * e]), 1)[0]
            v = self._heads(F.linear(value, w[2 * e :], None if b is None else b[2 * e :]), 1)[0]
        return [q, k, v]

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        op = "nn.MultiheadAttention"
        e, h = self.embed_dim, self.num_heads
        unbatched = query.ndim == 2
        if unbatched:
            dim = 0 if self.batch_first else 1
            query, key, value = (x if x is None else x.unsqueeze(dim) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            raise ValueError(
                f"ember.{op}: query, key and value must be 3-D (or 2-D unbatched), got "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        if query.shape[-1] != e or key.shape[-1] != e or value.shape[-1] != e:
            raise ValueError(
                f"ember.{op}: expected embed_dim {e} in the last dimension, got query "
                f"{tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"ember.{op}: key {tuple(key.shape)} and value {tuple(value.shape)} differ"
            )
        bdim = 0 if self.batch_first else 1
        n, tq, tk = query.shape[bdim], query.shape[1 - bdim], key.shape[1 - bdim]
        if key.shape[bdim] != n:
            raise ValueError(
                f"ember.{op}: query {tuple(query.shape)} and key {tuple(key.shape)} have "
                f"different batch sizes"
            )
        dt = query.dtype
        mask = None
        if attn_mask is not None:
            am = _additive(attn_mask, dt, op, "attn_mask")
            if am.shape == (tq, tk):
                mask = am.reshape(1, 1, tq, tk)  # 4-D: broadcasts to (N, H, Tq, Tk)
            elif am.shape == (n * h, tq, tk):
                mask = am.reshape(n, h, tq, tk)
            else:
                raise ValueError(
                    f"ember.{op}: attn_mask of shape {tuple(attn_mask.shape)} should be "
                    f"({tq}, {tk}) or ({n * h}, {tq}, {tk})"
                )
            is_causal = False  # like torch, the mask given wins over the hint
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, tk):
                raise ValueError(
                    f"ember.{op}: key_padding_mask of shape {tuple(key_padding_mask.shape)} "
                    f"should be ({n}, {tk})"
                )
            kpm = _additive(key_padding_mask, dt, op, "key_padding_mask").reshape(n, 1, 1, tk)
            mask = kpm if mask is None else mask + kpm
        if is_causal and mask is not None:
            mask = mask + _causal_mask(tq, tk, dt).reshape(1, 1, tq, tk)
            is_causal = False

        q, k, v = self._project(query, key, value)  # (N, T, H, D) views
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights or p > 0.0:
            qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            s = (qh @ kh.mT) * (1.0 / math.sqrt(self.head_dim))
            if is_causal:
                s = s + _causal_mask(tq, tk, dt)
            if mask is not None:
                s = s + mask
            w = F.softmax(s, -1)
            if p > 0.0:
                w = F.dropout(w, p)
            out = (w @ vh).transpose(1, 2)  # (N, Tq, H, D)
            if need_weights:
                weights = w.mean(1) if average_attn_weights else w
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=is_causal, layout="BTHD"
            )
        out = out.reshape(n, tq, e)
        if not self.batch_first:
            out = out.transpose(0, 1)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(bdim)
            if weights is not None:
                weights = weights.squeeze(0)
        return out, weights

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
            f"batch_first={self.batch_first}"
        )
