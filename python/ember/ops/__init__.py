"""Differentiable operations, and the Tensor methods and operators built on them."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import convert, creation, elementwise, index, linalg, reduce, shape
from .convert import clone, contiguous, copy_
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .elementwise import (
    abs,
    add,
    clamp,
    clip,
    cos,
    div,
    divide,
    eq,
    exp,
    ge,
    gelu,
    greater,
    greater_equal,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    masked_fill,
    maximum,
    minimum,
    mul,
    multiply,
    ne,
    neg,
    negative,
    not_equal,
    pow,
    reciprocal,
    relu,
    rsqrt,
    sigmoid,
    sign,
    silu,
    sin,
    sqrt,
    square,
    sub,
    subtract,
    tanh,
    true_divide,
    where,
)
from .index import embedding, gather, index_add, index_select, one_hot, scatter_add
from .linalg import matmul, mm
from .reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    softmax,
    std,
    sum,
    var,
)
from .reduce import prod_ as prod
from .shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    flatten,
    movedim,
    narrow,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    t,
    transpose,
    unbind,
    unsqueeze,
    view,
)


def _reflected(fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)

    return method


def _install() -> None:
    E = elementwise
    methods = {
        # math
        "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "maximum": maximum,
        "minimum": minimum, "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
        "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
        "logical_not": logical_not, "where": lambda self, cond, other: where(cond, self, other),
        "neg": neg, "abs": abs, "exp": exp, "log": log, "sqrt": sqrt, "rsqrt": rsqrt, "sin": sin,
        "cos": cos, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "gelu": gelu, "silu": silu,
        "clamp": clamp, "clip": clip, "square": square, "reciprocal": reciprocal, "sign": sign,
        "isnan": isnan, "isinf": isinf, "isfinite": isfinite, "masked_fill": masked_fill,
        "matmul": matmul, "mm": mm,
        # reductions
        "sum": sum, "mean": mean, "prod": prod, "max": max, "min": min, "amax": amax,
        "amin": amin, "argmax": argmax, "argmin": argmin, "var": var, "std": std,
        "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "any": any,
        "all": all,
        # shape and indexing
        "reshape": reshape, "view": view, "flatten": flatten, "squeeze": squeeze,
        "unsqueeze": unsqueeze, "permute": permute, "transpose": transpose, "t": t,
        "movedim": movedim, "expand": expand, "broadcast_to": broadcast_to, "narrow": narrow,
        "split": split, "chunk": chunk, "unbind": unbind, "gather": gather,
        "scatter_add": scatter_add, "index_select": index_select, "index_add": index_add,
        "contiguous": contiguous, "clone": clone, "copy_": copy_,
        "view_as": lambda self, other: view(self, other.shape),
        "reshape_as": lambda self, other: reshape(self, other.shape),
        "expand_as": lambda self, other: expand(self, other.shape),
        "new_zeros": lambda self, *size, dtype=None: zeros(
            *size, dtype=dtype or self.dtype, device=self.device),
        "new_ones": lambda self, *size, dtype=None: ones(
            *size, dtype=dtype or self.dtype, device=self.device),
        "new_full": lambda self, size, value, dtype=None: full(
            size, value, dtype or self.dtype, self.device),
        "new_tensor": lambda self, data, dtype=None: tensor(
            data, dtype=dtype or self.dtype, device=self.device),
        # in place
        "add_": E.add_, "sub_": E.sub_, "mul_": E.mul_, "div_": E.div_, "pow_": E.pow_,
        "fill_": E.fill_, "zero_": E.zero_,
        "clamp_": E._inplace_unary("clamp", clamp), "relu_": E._inplace_unary("relu", relu),
        "exp_": E._inplace_unary("exp", exp), "neg_": E._inplace_unary("neg", neg),
        "sqrt_": E._inplace_unary("sqrt", sqrt), "tanh_": E._inplace_unary("tanh", tanh),
        "sigmoid_": E._inplace_unary("sigmoid", sigmoid),
        "masked_fill_": E._inplace_unary("masked_fill", masked_fill),
        # operators
        "__add__": add, "__radd__": _reflected(add), "__iadd__": E.add_,
        "__sub__": sub, "__rsub__": _reflected(sub), "__isub__": E.sub_,
        "__mul__": mul, "__rmul__": _reflected(mul), "__imul__": E.mul_,
        "__truediv__": div, "__rtruediv__": _reflected(div), "__itruediv__": E.div_,
        "__pow__": pow, "__rpow__": _reflected(pow), "__ipow__": E.pow_,
        "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
        "__neg__": neg, "__abs__": abs, "__pos__": lambda self: self,
        "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
        "__and__": logical_and, "__or__": logical_or, "__xor__": logical_xor,
        "__rand__": _reflected(logical_and), "__ror__": _reflected(logical_or),
        "__rxor__": _reflected(logical_xor), "__invert__": logical_not,
        "__getitem__": shape.getitem, "__setitem__": shape.setitem,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda self: permute(self, *reversed(range(self.ndim))))
    Tensor.mT = property(lambda self: transpose(self, -2, -1))


_install()

__all__ = [n for n in dir() if not n.startswith("_")]
