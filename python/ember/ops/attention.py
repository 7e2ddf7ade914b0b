"""Scaled-dot-product attention as one autograd op over the flash-style kernels in
csrc/cpu/attention (FlashAttention-2 on the CPU: tiled over query and key blocks with an
online softmax; the T x T score matrix is never formed, the backward recomputes it per
tile from the saved per-row log-sum-exp).

Both layouts are native: the kernels address query/key/value/output through strides for
the batch, head and sequence dims (unit stride on the head dim), so (B, H, T, D) and
(B, T, H, D) tensors, strided views into a fused qkv projection and a KV-cache prefix all
run without copies. The op dispatches on the tensor's device (``kernels(dev, op, name)``)
so a CUDA kernel with the same binding names slots in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _C
from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._autocast import autocast_operands
from ._util import check_tensor, compute_dtype, same_device
from .creation import from_numpy

__all__ = ["scaled_dot_product_attention", "varlen_attention"]

_OP = "scaled_dot_product_attention"
_NAME = f"ember.{_OP}"
_LAYOUTS = ("BHTD", "BTHD")


def _swap12(x: Tensor) -> Tensor:
    """x (4-D) with dims 1 and 2 swapped: a view made on the C++ tensor (no autograd
    wrapper; this runs inside the op)."""
    impl = x._impl
    (n0, n1, n2, n3), (s0, s1, s2, s3) = impl.shape, impl.strides
    return Tensor(impl.as_strided([n0, n2, n1, n3], [s0, s2, s1, s3], impl.offset), _base=x)


def _bhtd(x: Tensor, layout: str) -> Tensor:
    """x as a (B, H, T, D) view (no copy)."""
    return x if layout == "BHTD" else _swap12(x)


def _kernel_operand(x: Tensor, dtype: D.dtype) -> Tensor:
    """x in the kernel's dtype with unit stride on the last dim (a copy only if not)."""
    x = cast(x, dtype)
    if x.shape[-1] > 1 and x.stride(-1) != 1:
        x = x.contiguous()
    return x


def _empty_like_layout(shape_bhtd: tuple, dtype: D.dtype, dev, layout: str) -> Tensor:
    """A fresh tensor contiguous in the user's layout, returned as its (B, H, T, D) view."""
    b, h, t, d = shape_bhtd
    if layout == "BHTD":
        return empty((b, h, t, d), dtype, dev)
    return _swap12(empty((b, t, h, d), dtype, dev))


def _kernel_dtype(dtype: D.dtype, dev) -> D.dtype:
    """The forward kernel's dtype: bfloat16 / float16 themselves on CUDA (tensor cores) and
    bfloat16 where the CPU kernel runs its products on vdpbf16ps (the bf16 GEMM's path
    choice, ``_C._gemm_bf16_native()``), else the compute dtype (float32 for 16-bit)."""
    if dev.type == "cuda" and dtype in (D.bfloat16, D.float16):
        return dtype
    if dtype is D.bfloat16 and dev.type == "cpu" and _C._attention_bf16_native():
        return dtype
    return compute_dtype(dtype)


def _backward_dtype(dtype: D.dtype, dev) -> D.dtype:
    """The backward kernel's dtype: bfloat16 / float16 themselves on CUDA (tensor cores,
    float32 accumulation, lse and delta), else the compute dtype (the CPU backward runs in
    float32 for 16-bit inputs, widening the saved operands)."""
    if dev.type == "cuda" and dtype in (D.bfloat16, D.float16):
        return dtype
    return compute_dtype(dtype)


def _lse_dtype(cdt: D.dtype) -> D.dtype:
    """The saved row log-sum-exp's dtype, the kernels' accumulation dtype: float64 for float64
    (the CUDA backward recomputes P = exp(s - lse) from it), else float32."""
    return D.float64 if cdt is D.float64 else D.float32


class ScaledDotProductAttention(Function):
    """Forward: one kernel call writing the output and the row log-sum-exp. Backward: one
    kernel call writing dQ, dK, dV: on CUDA in the 16-bit input dtype itself, on the CPU in
    float32 for 16-bit inputs (the saved operands and output are widened). Inputs are
    (B, H, T, D) views."""

    @staticmethod
    def forward(
        ctx: Context,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        is_causal: bool,
        scale: float,
        layout: str,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = _kernel_dtype(dtype, q.device)
        qb = _kernel_operand(_bhtd(q, layout), cdt)
        kb = _kernel_operand(_bhtd(k, layout), cdt)
        vb = _kernel_operand(_bhtd(v, layout), cdt)
        B, H, T, Dh = qb.shape
        out = _empty_like_layout((B, H, T, Dh), cdt, q.device, layout)
        lse = empty((B, H, T), _lse_dtype(cdt), q.device)
        mod = kernels(q.device, _OP, "attention_forward")
        mod.attention_forward(
            qb._impl,
            kb._impl,
            vb._impl,
            None if mask is None else mask._impl,
            out._impl,
            lse._impl,
            bool(is_causal),
            float(scale),
        )
        ctx.args = (is_causal, scale, layout, dtype)
        ctx.save_for_backward(qb, kb, vb, out, lse, mask)
        return cast(_bhtd(out, layout), dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        is_causal, scale, layout, dtype = ctx.args
        *saved, lse, mask = ctx.saved_tensors
        cdt = _backward_dtype(dtype, lse.device)
        qb, kb, vb, out = (_kernel_operand(x, cdt) for x in saved)
        gb = _kernel_operand(_bhtd(g, layout), cdt)
        gq = _empty_like_layout(tuple(qb.shape), cdt, qb.device, layout)
        gk = _empty_like_layout(tuple(kb.shape), cdt, qb.device, layout)
        gv = _empty_like_layout(tuple(vb.shape), cdt, qb.device, layout)
        kernels(qb.device, _OP, "attention_backward").attention_backward(
            gb._impl,
            qb._impl,
            kb._impl,
            vb._impl,
            None if mask is None else mask._impl,
            out._impl,
            lse._impl,
            gq._impl,
            gk._impl,
            gv._impl,
            bool(is_causal),
            float(scale),
        )
        grads = [cast(_bhtd(x, layout), dtype) for x in (gq, gk, gv)]
        grads = [gr if need else None for gr, need in zip(grads, ctx.needs_input_grad[:3])]
        return (*grads, None, None, None, None, None)


def _prepare_mask(attn_mask: Tensor, cdt: D.dtype, unbatched_heads: bool, dev) -> Tensor:
    """The mask as a 4-D view for the kernel, which checks that it broadcasts to
    (B, Hq, Tq, Tk) (size-1 dims stay size 1: read with stride 0, nothing is expanded)."""
    check_tensor(attn_mask, _OP, "attn_mask")
    if attn_mask.device != dev:
        raise ValueError(f"{_NAME}: attn_mask is on {attn_mask.device}, query on {dev}")
    if attn_mask.dtype is D.bool_:
        m = attn_mask
    elif attn_mask.dtype.is_floating_point:
        m = cast(attn_mask, cdt)
    else:
        raise TypeError(
            f"{_NAME}: attn_mask must be bool (True = attend) or floating (added to the "
            f"scores), got {attn_mask.dtype}"
        )
    if m.ndim > 4:
        raise ValueError(
            f"{_NAME}: attn_mask of shape {tuple(attn_mask.shape)} has more than 4 dims"
        )
    if unbatched_heads and m.ndim == 3:  # (N, L, S) for (N, L, E) inputs
        m = m.unsqueeze(1)
    while m.ndim < 4:
        m = m.unsqueeze(0)
    return m


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
    r"""softmax(query @ key^T * scale + mask) @ value, PyTorch's semantics, one fused op.

    Shape (layout="BHTD", the default, like PyTorch):
        query (B, Hq, Tq, D), key and value (B, Hkv, Tk, D) -> out (B, Hq, Tq, D);
        3-D (N, T, D) inputs are taken as one head.
    With layout="BTHD": query (B, Tq, Hq, D), key/value (B, Tk, Hkv, D) -> (B, Tq, Hq, D).
    Both layouts are native (strided, no copies); so are views into a fused qkv projection
    and a KV-cache prefix ``cache[:, :, :t]``.

    Args:
        attn_mask: bool (True = attend) or floating (added to the scores), broadcastable to
            (B, Hq, Tq, Tk), e.g. a key-padding mask of shape (B, 1, 1, Tk).
        dropout_p: must be 0.0 (dropout inside attention is not supported).
        is_causal: query i attends keys j <= i (top-left aligned, as PyTorch).
        scale: defaults to 1 / sqrt(D).
        enable_gqa: allow Hq a multiple of Hkv (grouped-query attention); query head h
            uses key/value head h // (Hq // Hkv).
        layout: "BHTD" or "BTHD".

    Rows whose keys are all masked give a zero output and zero gradients (PyTorch: NaN).
    float32 and float64 run natively. bfloat16 (also what autocast gives): where the bf16
    GEMM runs on vdpbf16ps (``ember._C._gemm_bf16_native()``, e.g. AMD Zen 4) both products
    take the bf16 operands with float32 accumulation, the softmax runs in float32 and its
    probabilities are rounded to bf16 for the value product (as FlashAttention); elsewhere,
    and for float16, the forward computes in float32. On CUDA, bfloat16 and float16 run
    forward and backward on the tensor cores with float32 accumulation (head dims up to
    128; above, in float32 on the SIMT kernels from the 16-bit operands). The output has the
    input dtype; the CPU backward computes in float32, the CUDA one returns 16-bit gradients
    accumulated in float32. Head dims 1 .. 256.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(t, _OP, name)
    dev = same_device(_OP, query, key, value)
    cast = autocast_operands(dev.type, query, key, value)
    if cast is not None:  # bf16 in and out (bf16 products where the CPU has them at full rate)
        query, key, value = cast
    if dropout_p != 0.0:
        raise ValueError(
            f"{_NAME}: dropout in attention is not supported (dropout_p must be 0.0, "
            f"got {dropout_p})"
        )
    if layout not in _LAYOUTS:
        raise ValueError(f"{_NAME}: layout must be 'BHTD' or 'BTHD', got {layout!r}")
    if not (query.dtype is key.dtype is value.dtype):
        raise TypeError(
            f"{_NAME}: query, key and value must have one dtype, got {query.dtype}, "
            f"{key.dtype} and {value.dtype}"
        )
    dtype = query.dtype
    if not dtype.is_floating_point:
        raise TypeError(f"{_NAME}: needs floating-point tensors, got {dtype}")
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    nd = query.ndim
    if not (key.ndim == value.ndim == nd and (nd == 4 or (nd == 3 and layout == "BHTD"))):
        want = "4-D (B, H, T, D) or 3-D (N, T, D)" if layout == "BHTD" else "4-D (B, T, H, D)"
        raise ValueError(f"{_NAME}: expected {want} query, key and value, got {shapes}")
    unbatched_heads = nd == 3
    q, k, v = (
        (x.unsqueeze(1) for x in (query, key, value)) if unbatched_heads else (query, key, value)
    )
    # Shapes (head dims, batch sizes, key vs value, D, head multiples, the mask's broadcast)
    # are checked by the kernels; only enable_gqa is the op's own.
    Hq, Dh = _bhtd(q, layout).shape[1], q.shape[-1]
    Hkv = _bhtd(k, layout).shape[1]
    if Hq != Hkv and not enable_gqa:
        raise ValueError(
            f"{_NAME}: query has {Hq} heads but key/value have {Hkv} ({shapes}); "
            "pass enable_gqa=True for grouped-query attention"
        )
    if scale is None:
        scale = 1.0 / math.sqrt(max(Dh, 1))  # the kernel rejects D = 0
    mask = None
    if attn_mask is not None:
        mask = _prepare_mask(attn_mask, compute_dtype(dtype), unbatched_heads, dev)
    out = ScaledDotProductAttention.apply(
        q, k, v, mask, bool(is_causal), float(scale), layout, dtype
    )
    return out.squeeze(1) if unbatched_heads else out


_VARLEN = "ember.nn.functional.varlen_attention"


def _packed_bhtd(x: Tensor) -> Tensor:
    """A packed (N, H, D) tensor as the kernel's batch-1 (1, H, N, D) view (no copy)."""
    impl = x._impl
    (n, h, d), (sn, sh, sd) = impl.shape, impl.strides
    return Tensor(impl.as_strided([1, h, n, d], [max(n, 1) * sn, sh, sn, sd], impl.offset), _base=x)


class VarlenAttention(Function):
    """Packed variable-length attention: one kernel call each way over every sequence.
    Inputs are packed (N, H, D) tensors; the kernels take them in the forward's and the
    backward's kernel dtypes (16-bit on CUDA, as ScaledDotProductAttention)."""

    @staticmethod
    def forward(
        ctx: Context,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        cu_q: Tensor,
        cu_k: Tensor,
        is_causal: bool,
        scale: float,
        dtype: D.dtype,
    ) -> Tensor:
        cdt = _kernel_dtype(dtype, q.device)
        qc, kc, vc = (_kernel_operand(x, cdt) for x in (q, k, v))
        n, h, dh = qc.shape
        out = empty((n, h, dh), cdt, q.device)
        lse = empty((1, h, n), _lse_dtype(cdt), q.device)
        kernels(q.device, _OP, "attention_varlen_forward").attention_varlen_forward(
            *(_packed_bhtd(x)._impl for x in (qc, kc, vc)),
            cu_q._impl,
            cu_k._impl,
            _packed_bhtd(out)._impl,
            lse._impl,
            bool(is_causal),
            float(scale),
        )
        ctx.args = (is_causal, scale, dtype)
        ctx.save_for_backward(qc, kc, vc, cu_q, cu_k, out, lse)
        return cast(out, dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple:
        *saved, cu_q, cu_k, out, lse = ctx.saved_tensors
        is_causal, scale, dtype = ctx.args
        cdt = _backward_dtype(dtype, lse.device)
        qc, kc, vc, out = (_kernel_operand(x, cdt) for x in (*saved, out))
        gc = _kernel_operand(g, cdt)
        gq, gk, gv = (empty(tuple(x.shape), cdt, qc.device) for x in (qc, kc, vc))
        kernels(qc.device, _OP, "attention_varlen_backward").attention_varlen_backward(
            _packed_bhtd(gc)._impl,
            *(_packed_bhtd(x)._impl for x in (qc, kc, vc)),
            cu_q._impl,
            cu_k._impl,
            _packed_bhtd(out)._impl,
            lse._impl,
            *(_packed_bhtd(x)._impl for x in (gq, gk, gv)),
            bool(is_causal),
            float(scale),
        )
        grads = [
            cast(x, dtype) if need else None
            for x, need in zip((gq, gk, gv), ctx.needs_input_grad[:3])
        ]
        return (*grads, None, None, None, None, None)


def _offsets(cu: Tensor | Sequence[int] | np.ndarray, name: str) -> Tensor:
    """cu_seqlens as the kernel's 1-D int64 CPU tensor (values are checked by the kernel)."""
    if isinstance(cu, Tensor):
        if cu.dtype.is_floating_point or cu.dtype is D.bool_:
            raise TypeError(f"{_VARLEN}: {name} must hold integers, got {cu.dtype}")
        return cu.to("cpu").to(D.int64).contiguous()
    a = np.asarray(cu)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{_VARLEN}: {name} must hold integers, got {a.dtype}")
    return from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def varlen_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    cu_seqlens_q: Tensor | Sequence[int] | np.ndarray,
    cu_seqlens_k: Tensor | Sequence[int] | np.ndarray | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    r"""Attention over variable-length sequences packed end to end (FlashAttention's
    "varlen" form): each sequence attends within itself, with no padding and no mask, so
    no work is spent on pad tokens.

    Shape:
        query (Nq, Hq, D), key and value (Nk, Hkv, D) -> out (Nq, Hq, D);
        cu_seqlens_q, cu_seqlens_k: S + 1 integer offsets (0, len_0, len_0 + len_1, ...,
        Nq or Nk): sequence s is query rows [cu_q[s], cu_q[s + 1]) with key/value rows
        [cu_k[s], cu_k[s + 1]).

    Args:
        cu_seqlens_k: defaults to cu_seqlens_q (self-attention).
        is_causal: within each sequence, query i attends keys j <= i (top-left aligned, as
            scaled_dot_product_attention).
        scale: defaults to 1 / sqrt(D).
        enable_gqa: allow Hq a multiple of Hkv (grouped-query attention).

    Equal to scaled_dot_product_attention run on each sequence alone. A query row of a
    sequence with no keys gives zeros. float32 and float64 natively; bfloat16 and float16
    as scaled_dot_product_attention (on CUDA the tensor cores both ways; on the CPU bf16
    products where native, else float32, and a float32 backward).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(t, _OP, name)
    same_device(_OP, query, key, value)
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    if not (query.ndim == key.ndim == value.ndim == 3):
        raise ValueError(f"{_VARLEN}: expected 3-D packed (N, H, D) tensors, got {shapes}")
    if not (query.dtype is key.dtype is value.dtype) or not query.dtype.is_floating_point:
        raise TypeError(
            f"{_VARLEN}: query, key and value must share one floating dtype, got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
    if query.shape[1] != key.shape[1] and not enable_gqa:
        raise ValueError(
            f"{_VARLEN}: query has {query.shape[1]} heads but key/value have {key.shape[1]} "
            f"({shapes}); pass enable_gqa=True for grouped-query attention"
        )
    cu_q = _offsets(cu_seqlens_q, "cu_seqlens_q")
    cu_k = cu_q if cu_seqlens_k is None else _offsets(cu_seqlens_k, "cu_seqlens_k")
    if scale is None:
        scale = 1.0 / math.sqrt(max(query.shape[-1], 1))
    return VarlenAttention.apply(
        query, key, value, cu_q, cu_k, bool(is_causal), float(scale), query.dtype
    )
