"""Export rules of the layer ops: linear, convolution, pooling, normalization,
attention, recurrent layers and the fused head split (see rules_tensor.py for the rule
signature)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from ..tensor import Tensor
from .graph import ExportError, Graph, Unusable
from .rules_tensor import activation


def _v(g: Graph, t: Tensor | None, dtype: D.dtype) -> str:
    """t in dtype, or "" (ONNX's absent optional input) for None."""
    return "" if t is None else g.cast(g.value(t), t.dtype, dtype)


def linear(
    g: Graph, outs: tuple, x: Tensor, w: Tensor, b: Any, dtype: D.dtype, act: str = "none"
) -> str:
    y = g.node("MatMul", [_v(g, x, dtype), g.node("Transpose", [_v(g, w, dtype)], perm=[1, 0])])
    if b is not None:
        y = g.node("Add", [y, _v(g, b, dtype)])
    return activation(g, y, act, dtype)


def conv(
    g: Graph,
    outs: tuple,
    x: Tensor,
    w: Tensor,
    b: Any,
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int,
    act: str,
    out_shape: tuple,
    dtype: D.dtype,
) -> str:
    nd = x.ndim - 2  # conv1d passes 2-D geometry with height 1: keep the last nd entries
    inputs = [_v(g, x, dtype), _v(g, w, dtype)] + ([_v(g, b, dtype)] if b is not None else [])
    y = g.node(
        "Conv",
        inputs,
        strides=list(stride[-nd:]),
        pads=list(padding[-nd:]) * 2,
        dilations=list(dilation[-nd:]),
        group=int(groups),
    )
    return activation(g, y, act, dtype)


def _pool_attrs(geom: tuple) -> dict:
    k, s, p, d, _, _ = geom
    return {"kernel_shape": list(k), "strides": list(s), "pads": list(p) * 2}


def max_pool(g: Graph, outs: tuple, x: Tensor, geom: tuple, ceil: bool, dtype: D.dtype) -> list:
    y = g.node(
        "MaxPool",
        [_v(g, x, dtype)],
        dilations=list(geom[3]),
        ceil_mode=int(ceil),
        **_pool_attrs(geom),
    )
    why = "ember.onnx.export: max pooling's indices (return_indices=True) have no ONNX form"
    return [y, Unusable(why)]


def avg_pool(g: Graph, outs: tuple, x: Tensor, geom: tuple, opts: tuple, dtype: D.dtype) -> str:
    ceil, count_include_pad, divisor = opts
    if divisor:
        raise ExportError("ember.onnx.export: avg_pool2d's divisor_override has no ONNX form")
    return g.node(
        "AveragePool",
        [_v(g, x, dtype)],
        ceil_mode=int(ceil),
        count_include_pad=int(count_include_pad),
        **_pool_attrs(geom),
    )


def adaptive_avg_pool(g: Graph, outs: tuple, x: Tensor, oh: int, ow: int, dtype: D.dtype) -> str:
    if (oh, ow) != (1, 1):
        raise ExportError(
            f"ember.onnx.export: adaptive_avg_pool2d to ({oh}, {ow}) is exported only for an "
            "output size of 1 (GlobalAveragePool)"
        )
    return g.node("GlobalAveragePool", [_v(g, x, dtype)])


def layer_norm(g: Graph, outs: tuple, x: Tensor, w: Any, b: Any, shape: tuple, eps: float):
    dt = x.dtype
    scale = _v(g, w, dt) if w is not None else g.const(_ones(shape, dt))
    inputs = [g.value(x), scale] + ([_v(g, b, dt)] if b is not None else [])
    return g.node("LayerNormalization", inputs, axis=-len(shape), epsilon=float(eps))


def rms_norm(g: Graph, outs: tuple, x: Tensor, w: Any, b: Any, shape: tuple, eps: float):
    """x / sqrt(mean(x^2) + eps) * w over the trailing dims (no single ONNX op before 23)."""
    dt = x.dtype
    v = g.value(x)
    axes = list(range(-len(shape), 0))
    ms = g.reduce("ReduceMean", g.node("Mul", [v, v]), axes, True)
    y = g.node("Div", [v, g.node("Sqrt", [g.node("Add", [ms, g.scalar(eps, dt)])])])
    return y if w is None else g.node("Mul", [y, _v(g, w, dt)])


def batch_norm(
    g: Graph,
    outs: tuple,
    x: Tensor,
    w: Any,
    b: Any,
    mean: Any,
    var: Any,
    training: bool,
    momentum: float,
    eps: float,
    dtype: D.dtype,
) -> str:
    if training or mean is None or var is None:
        raise ExportError(
            "ember.onnx.export: batch norm is exported with running statistics only (eval "
            "mode, track_running_stats=True)"
        )
    c = (x.shape[1],)
    scale = _v(g, w, dtype) if w is not None else g.const(_ones(c, dtype))
    bias = _v(g, b, dtype) if b is not None else g.const(_zeros(c, dtype))
    inputs = [_v(g, x, dtype), scale, bias, _v(g, mean, dtype), _v(g, var, dtype)]
    return g.node("BatchNormalization", inputs, epsilon=float(eps))


def attention(
    g: Graph,
    outs: tuple,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Any,
    is_causal: bool,
    scale: float,
    layout: str,
    dtype: D.dtype,
) -> str:
    """softmax(q k^T * scale + mask) v as MatMul / Softmax / MatMul (B, H, T, D)."""
    if _heads(q, layout) != _heads(k, layout):
        raise ExportError("ember.onnx.export: grouped-query attention (enable_gqa) is not exported")
    swap = layout == "BTHD"

    def bhtd(t: Tensor) -> str:
        name = _v(g, t, dtype)
        return g.node("Transpose", [name], perm=[0, 2, 1, 3]) if swap else name

    qn, kn, vn = bhtd(q), bhtd(k), bhtd(v)
    s = g.node("MatMul", [qn, g.node("Transpose", [kn], perm=[0, 1, 3, 2])])
    s = g.node("Mul", [s, g.scalar(scale, dtype)])
    neg_inf = g.scalar(float("-inf"), dtype)
    if mask is not None:
        m = g.value(mask)
        if mask.dtype is D.bool_:
            s = g.node("Where", [m, s, neg_inf])
        else:
            s = g.node("Add", [s, g.cast(m, mask.dtype, dtype)])
    if is_causal:  # key j > query i is banned (top-left aligned, as PyTorch)
        zero, one = g.ints([0]), g.ints([1])
        tq = g.node("Shape", [qn], start=2, end=3)
        tk = g.node("Shape", [kn], start=2, end=3)
        rows = g.node("Range", [_scalar_of(g, zero), _scalar_of(g, tq), _scalar_of(g, one)])
        cols = g.node("Range", [_scalar_of(g, zero), _scalar_of(g, tk), _scalar_of(g, one)])
        banned = g.node(
            "Greater", [g.node("Unsqueeze", [cols, zero]), g.node("Unsqueeze", [rows, one])]
        )
        s = g.node("Where", [banned, neg_inf, s])
    y = g.node("MatMul", [g.node("Softmax", [s], axis=-1), vn])
    return g.node("Transpose", [y], perm=[0, 2, 1, 3]) if swap else y


def _heads(t: Tensor, layout: str) -> int:
    return t.shape[2] if layout == "BTHD" else t.shape[1]


def _scalar_of(g: Graph, vec: str) -> str:
    return g.node("Squeeze", [vec, g.ints([0])])


# PyTorch's gate blocks -> ONNX's: LSTM i f g o -> i o f c; GRU r z n -> z r h.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn_tanh": (0,), "rnn_relu": (0,)}
_ONNX_RNN = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


def _gates(g: Graph, w: str, mode: str) -> str:
    order = _GATE_ORDER[mode]
    if len(order) == 1:
        return w
    parts = g.node("Split", [w], n_out=len(order), axis=0)
    return g.node("Concat", [parts[i] for i in order], axis=0)


def rnn_layer(
    g: Graph,
    outs: tuple,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Any,
    b_hh: Any,
    h0: Any,
    c0: Any,
    lengths: Any,
    mode: str,
    reverse: bool,
    dtype: D.dtype,
) -> list:
    """One layer, one direction: ONNX's LSTM / GRU / RNN with the gates reordered."""
    if lengths is not None:
        raise ExportError("ember.onnx.export: recurrent layers with lengths are not exported")
    hidden = w_hh.shape[1]
    zero = g.ints([0])
    w = g.node("Unsqueeze", [_gates(g, _v(g, w_ih, dtype), mode), zero])
    r = g.node("Unsqueeze", [_gates(g, _v(g, w_hh, dtype), mode), zero])
    bias = ""
    if b_ih is not None or b_hh is not None:
        n = w_ih.shape[0]
        bi = (
            _gates(g, _v(g, b_ih, dtype), mode)
            if b_ih is not None
            else g.const(_zeros((n,), dtype))
        )
        bh = (
            _gates(g, _v(g, b_hh, dtype), mode)
            if b_hh is not None
            else g.const(_zeros((n,), dtype))
        )
        bias = g.node("Unsqueeze", [g.node("Concat", [bi, bh], axis=0), zero])
    state = [
        g.node("Unsqueeze", [_v(g, s, dtype), zero]) if s is not None else "" for s in (h0, c0)
    ]
    inputs = [_v(g, x, dtype), w, r, bias, "", state[0]]
    attrs: dict[str, Any] = {
        "hidden_size": int(hidden),
        "direction": "reverse" if reverse else "forward",
    }
    n_out = 2
    if mode == "lstm":
        inputs.append(state[1])
        n_out = 3
    elif mode == "gru":
        attrs["linear_before_reset"] = 1
    else:
        attrs["activations"] = ["Tanh" if mode == "rnn_tanh" else "Relu"]
    while inputs[-1] == "":
        inputs.pop()
    ys = g.node(_ONNX_RNN[mode], inputs, n_out=n_out, **attrs)
    out = [g.node("Squeeze", [ys[0], g.ints([1])])]  # (T, 1, B, H) -> (T, B, H)
    return out + [g.node("Squeeze", [y, zero]) for y in ys[1:]]  # (1, B, H) -> (B, H)


def split_heads(g: Graph, outs: tuple, y: Tensor, parts: int, heads: int, swap: bool) -> list:
    """(A, B, parts * E) -> parts x (A, B, H, D) ((B, A, H, D) with swap)."""
    e = y.shape[-1] // parts
    v = g.value(y)
    names = []
    for i in range(parts):
        part = g.node("Slice", [v, g.ints([i * e]), g.ints([(i + 1) * e]), g.ints([2])])
        # 0 keeps the input's size: the leading dims may be dynamic
        part = g.node("Reshape", [part, g.ints([0, 0, heads, e // heads])])
        names.append(g.node("Transpose", [part], perm=[1, 0, 2, 3]) if swap else part)
    return names


def training_only(name: str) -> Any:
    def rule(g: Graph, outs: tuple, *args: Any) -> str:
        raise ExportError(
            f"ember.onnx.export: {name} runs only in training mode; the export traces the "
            "model in eval mode"
        )

    return rule


def _ones(shape: tuple, dtype: D.dtype) -> np.ndarray:
    return np.ones(shape, dtype=dtype.numpy_dtype)


def _zeros(shape: tuple, dtype: D.dtype) -> np.ndarray:
    return np.zeros(shape, dtype=dtype.numpy_dtype)
