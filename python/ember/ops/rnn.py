"""Recurrent layers (RNN tanh / relu, LSTM, GRU) as coarse autograd ops over the kernels in
csrc/cpu/rnn and csrc/cuda/rnn: one op runs one layer in one direction over a whole
sequence, with the time loop in C++ (``rnn_forward`` / ``rnn_backward``), so there is no
per-step Python overhead.

The ops take float32 or float64 (float16 / bfloat16 are computed in float32) and dispatch
on the tensor's device (``kernels(dev, "rnn", name)``): the CUDA kernels have the same
binding names. Lengths are validated on the host and moved to the input's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from .._primitives import cast, empty, kernels
from ..autograd.function import Context, Function
from ..tensor import Tensor
from ._util import compute_dtype, float_dtype
from .creation import from_numpy

__all__ = ["MODES", "gate_count", "rnn_layer"]

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def gate_count(mode: str) -> int:
    return {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode]


def _c(t: Tensor | None, dt: D.dtype) -> Tensor | None:
    return None if t is None else cast(t, dt).contiguous()


def _impl(t: Tensor | None) -> Any:
    return None if t is None else t._impl


class RNNLayer(Function):
    """One layer, one direction: (x, weights, h0[, c0]) -> (output, h_n[, c_n]).
    x (T, B, I); output (T, B, H), zero at padded steps; h_n, c_n (B, H)."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor | None,
        b_hh: Tensor | None,
        h0: Tensor | None,
        c0: Tensor | None,
        lengths: Tensor | None,
        mode: str,
        reverse: bool,
        dtype: D.dtype,
    ) -> tuple:
        cdt = compute_dtype(dtype)
        dev = x.device
        xc, wi, wh = _c(x, cdt), _c(w_ih, cdt), _c(w_hh, cdt)
        bi, bh, h0c, c0c = _c(b_ih, cdt), _c(b_hh, cdt), _c(h0, cdt), _c(c0, cdt)
        T, B, _ = x.shape
        H = w_hh.shape[1]
        G = gate_count(mode)
        lstm, gru = mode == "lstm", mode == "gru"
        y = empty((T, B, H), cdt, dev)
        hn = empty((B, H), cdt, dev)
        cn = empty((B, H), cdt, dev) if lstm else None
        hs = empty((T + 1, B, H), cdt, dev)
        cs = empty((T + 1, B, H), cdt, dev) if lstm else None
        gates = empty((T, B, G * H), cdt, dev)
        hn_lin = empty((T, B, H), cdt, dev) if gru else None
        kernels(dev, "rnn", "rnn_forward").rnn_forward(
            mode,
            xc._impl,
            wi._impl,
            wh._impl,
            _impl(bi),
            _impl(bh),
            _impl(h0c),
            _impl(c0c),
            _impl(lengths),
            reverse,
            y._impl,
            hn._impl,
            _impl(cn),
            hs._impl,
            _impl(cs),
            gates._impl,
            _impl(hn_lin),
        )
        ctx.meta = (mode, reverse, dtype, b_ih is not None, b_hh is not None)
        ctx.dts = tuple(None if t is None else t.dtype for t in (x, w_ih, w_hh, b_ih, b_hh, h0, c0))
        ctx.save_for_backward(xc, wi, wh, lengths, hs, cs, gates, hn_lin)
        outs = (cast(y, dtype), cast(hn, dtype))
        return outs + (cast(cn, dtype),) if lstm else outs

    @staticmethod
    def backward(ctx: Context, dy: Tensor, dhn: Tensor, dcn: Tensor | None = None) -> tuple:
        xc, wi, wh, lengths, hs, cs, gates, hn_lin = ctx.saved_tensors
        mode, reverse, dtype, has_bi, has_bh = ctx.meta
        cdt = xc.dtype
        dev = xc.device
        lstm = mode == "lstm"
        dyc, dhnc = _c(dy, cdt), _c(dhn, cdt)
        dcnc = _c(dcn, cdt) if lstm else None
        H = wh.shape[1]
        B = xc.shape[1]
        dx = empty(xc.shape, cdt, dev)
        dwi = empty(wi.shape, cdt, dev)
        dwh = empty(wh.shape, cdt, dev)
        dbi = empty((wi.shape[0],), cdt, dev) if has_bi else None
        dbh = empty((wi.shape[0],), cdt, dev) if has_bh else None
        dh0 = empty((B, H), cdt, dev)
        dc0 = empty((B, H), cdt, dev) if lstm else None
        kernels(dev, "rnn", "rnn_backward").rnn_backward(
            mode,
            xc._impl,
            wi._impl,
            wh._impl,
            _impl(lengths),
            reverse,
            hs._impl,
            _impl(cs),
            gates._impl,
            _impl(hn_lin),
            dyc._impl,
            dhnc._impl,
            _impl(dcnc),
            dx._impl,
            dwi._impl,
            dwh._impl,
            _impl(dbi),
            _impl(dbh),
            dh0._impl,
            _impl(dc0),
        )
        grads = (dx, dwi, dwh, dbi, dbh, dh0, dc0)
        out = tuple(
            None if g is None or dt is None else cast(g, dt) for g, dt in zip(grads, ctx.dts)
        )
        return out + (None, None, None, None)


def _lengths_tensor(lengths: Any, B: int, T: int, where: str) -> Tensor | None:
    """lengths as a contiguous int64 CPU tensor of B values in [0, T], validated."""
    if lengths is None:
        return None
    arr = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{where}: lengths must be integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.shape != (B,):
        raise ValueError(
            f"{where}: lengths has shape {arr.shape}, expected ({B},) (one per batch element)"
        )
    if B and (arr.min() < 0 or arr.max() > T):
        raise ValueError(
            f"{where}: lengths must lie in [0, {T}] (the sequence length), got min "
            f"{int(arr.min())} and max {int(arr.max())}"
        )
    return from_numpy(arr)


def rnn_layer(
    mode: str,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    lengths: Tensor | None = None,
    reverse: bool = False,
) -> tuple:
    """One recurrent layer in one direction over a whole sequence, one autograd op.

    Shape: x (T, B, I), w_ih (G H, I), w_hh (G H, H), biases (G H), h0 / c0 (B, H),
    lengths (B,) int64 (already validated, see ``_lengths_tensor``) ->
    (output (T, B, H), h_n (B, H)[, c_n (B, H)]); G = 1 (rnn_*), 4 (lstm), 3 (gru).
    """
    if mode not in MODES:
        raise ValueError(f"ember.rnn: unknown mode {mode!r} (expected one of {MODES})")
    ts = [t for t in (x, w_ih, w_hh, b_ih, b_hh, h0, c0) if t is not None]
    dtype = float_dtype(mode, *ts)
    if mode != "lstm":
        c0 = None
    kernels(x.device, mode, "rnn_forward")
    if lengths is not None and lengths.device != x.device:
        lengths = lengths.to(x.device)
    return RNNLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, mode, reverse, dtype)
