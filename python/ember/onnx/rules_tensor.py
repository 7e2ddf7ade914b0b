"""Export rules of the tensor ops: elementwise math, shapes and views, indexing,
reductions, softmax, matmul and dtype copies. A rule takes the Graph and the arguments
the op's Function was applied to, and returns the graph name of each output."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from ..tensor import Tensor
from .graph import ONNX_DTYPES, ExportError, Graph

INT64_MAX = 2**63 - 1

_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "maximum": "Max",
    "minimum": "Min",
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
    "logical_and": "And",
    "logical_or": "Or",
    "logical_xor": "Xor",
}
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")


def binary(g: Graph, outs: tuple, a: Tensor, b: Tensor, op: str, cdt: D.dtype, rdt: D.dtype) -> str:
    if op.startswith("logical_"):
        cdt = D.bool_
    x, y = g.cast(g.value(a), a.dtype, cdt), g.cast(g.value(b), b.dtype, cdt)
    if op == "ne":
        out = g.node("Not", [g.node("Equal", [x, y])])
    elif op in _BINARY:
        out = g.node(_BINARY[op], [x, y])
    else:
        raise ExportError(f"ember.onnx.export: no ONNX form of the binary op {op!r}")
    produced = D.bool_ if op in _COMPARE or op.startswith("logical_") else cdt
    return g.cast(out, produced, rdt)


def activation(g: Graph, x: str, op: str, dtype: D.dtype, alpha: float = 0.0, beta: float = 0.0):
    """op applied to x (of dtype): the unary ops and the activations fused into linear."""
    simple = {
        "neg": "Neg",
        "abs": "Abs",
        "exp": "Exp",
        "log": "Log",
        "sqrt": "Sqrt",
        "sin": "Sin",
        "cos": "Cos",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "relu": "Relu",
    }
    if op == "none":
        return x
    if op in simple:
        return g.node(simple[op], [x])
    if op == "rsqrt":
        return g.node("Reciprocal", [g.node("Sqrt", [x])])
    if op == "silu":
        return g.node("Mul", [x, g.node("Sigmoid", [x])])
    if op == "gelu":  # x/2 (1 + erf(x / sqrt 2))
        erf = g.node("Erf", [g.node("Mul", [x, g.scalar(1 / math.sqrt(2), dtype)])])
        half_x = g.node("Mul", [x, g.scalar(0.5, dtype)])
        return g.node("Mul", [half_x, g.node("Add", [erf, g.scalar(1.0, dtype)])])
    if op == "gelu_tanh":  # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.scalar(0.044715, dtype)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])])
        half_x = g.node("Mul", [x, g.scalar(0.5, dtype)])
        return g.node("Mul", [half_x, g.node("Add", [t, g.scalar(1.0, dtype)])])
    if op == "clamp":
        return g.node("Clip", [x, g.scalar(alpha, dtype), g.scalar(beta, dtype)])
    raise ExportError(f"ember.onnx.export: no ONNX form of the activation {op!r}")


def unary(g: Graph, outs: tuple, x: Tensor, op: str, alpha: float, beta: float) -> str:
    dt = outs[0].dtype
    return activation(g, g.cast(g.value(x), x.dtype, dt), op, dt, alpha, beta)


def where(g: Graph, outs: tuple, cond: Tensor, a: Tensor, b: Tensor, dt: D.dtype) -> str:
    c = g.cast(g.value(cond), cond.dtype, D.bool_)
    return g.node("Where", [c, g.cast(g.value(a), a.dtype, dt), g.cast(g.value(b), b.dtype, dt)])


def reshape(g: Graph, outs: tuple, x: Tensor, shape: tuple, op: str) -> str:
    # allowzero: a 0 in the target is a size, not "copy the input's dim" (ONNX's default)
    zero = 0 in [int(s) for s in shape]
    return g.node("Reshape", [g.value(x), g.shape_vector(shape)], allowzero=int(zero))


def permute(g: Graph, outs: tuple, x: Tensor, dims: tuple) -> str:
    return g.node("Transpose", [g.value(x)], perm=list(dims))


def expand(g: Graph, outs: tuple, x: Tensor, shape: tuple) -> str:
    return g.node("Expand", [g.value(x), g.shape_vector(shape)])


def basic_index(g: Graph, outs: tuple, x: Tensor, basic: list) -> str:
    """x[basic] for ints, slices (positive steps) and None: one Slice, then Squeeze for
    the ints and Unsqueeze for the Nones."""
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    dim = out = 0
    for k in basic:
        if k is None:
            unsqueeze.append(out)
            out += 1
            continue
        if isinstance(k, slice):
            start = 0 if k.start is None else k.start
            stop = INT64_MAX if k.stop is None else k.stop
            step = 1 if k.step is None else k.step
            if (start, stop, step) != (0, INT64_MAX, 1):
                starts.append(start), ends.append(stop), axes.append(dim), steps.append(step)
            out += 1
        else:
            starts.append(k), ends.append(INT64_MAX if k == -1 else k + 1)
            axes.append(dim), steps.append(1), squeeze.append(dim)
        dim += 1
    y = g.value(x)
    if axes:
        vectors = [g.shape_vector(v) for v in (starts, ends)] + [g.ints(axes), g.ints(steps)]
        y = g.node("Slice", [y, *vectors])
    if squeeze:
        y = g.node("Squeeze", [y, g.ints(squeeze)])
    if unsqueeze:
        y = g.node("Unsqueeze", [y, g.ints(unsqueeze)])
    return y if y != g.value(x) else g.node("Identity", [y])


def cat(g: Graph, outs: tuple, dim: int, dtype: D.dtype, *xs: Tensor) -> str:
    return g.node("Concat", [g.cast(g.value(x), x.dtype, dtype) for x in xs], axis=dim)


def matmul(g: Graph, outs: tuple, a: Tensor, b: Tensor, dtype: D.dtype) -> str:
    return g.node(
        "MatMul", [g.cast(g.value(a), a.dtype, dtype), g.cast(g.value(b), b.dtype, dtype)]
    )


_REDUCE = {
    "sum": "ReduceSum",
    "mean": "ReduceMean",
    "prod": "ReduceProd",
    "max": "ReduceMax",
    "amax": "ReduceMax",
    "min": "ReduceMin",
    "amin": "ReduceMin",
}


def reduce(
    g: Graph, outs: tuple, x: Tensor, op: str, dims: tuple, keepdim: bool, dtype: D.dtype
) -> str:
    if op not in _REDUCE:
        raise ExportError(f"ember.onnx.export: no ONNX form of the reduction {op!r}")
    v = g.cast(g.value(x), x.dtype, dtype)
    if not dims:
        return g.node("Identity", [v])
    return g.reduce(_REDUCE[op], v, dims, keepdim)


def arg_reduce(g: Graph, outs: tuple, x: Tensor, op: str, dim: int, keepdim: bool) -> list:
    if op not in ("max", "min"):
        raise ExportError(f"ember.onnx.export: no ONNX form of the reduction {op!r}")
    v = g.value(x)
    values = g.reduce("ReduceMax" if op == "max" else "ReduceMin", v, [dim], keepdim)
    arg = "ArgMax" if op == "max" else "ArgMin"
    return [values, g.node(arg, [v], axis=dim, keepdims=int(keepdim))]


def softmax(g: Graph, outs: tuple, x: Tensor, dim: int, log: bool, dtype: D.dtype) -> str:
    v = g.cast(g.value(x), x.dtype, dtype)
    return g.node("LogSoftmax" if log else "Softmax", [v], axis=dim)


def pick(g: Graph, outs: tuple, x: Tensor, dim: int, index: Tensor, kind: str) -> str:
    idx = g.cast(g.value(index), index.dtype, D.int64)
    op = "GatherElements" if kind == "gather" else "Gather"
    return g.node(op, [g.value(x), idx], axis=dim)


def copy(g: Graph, outs: tuple, x: Tensor, dtype: D.dtype, dev: Any) -> str:
    if dtype is x.dtype:
        return g.node("Identity", [g.value(x)])
    return g.node("Cast", [g.value(x)], to=ONNX_DTYPES[dtype])
