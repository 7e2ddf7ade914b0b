"""Graph: the ONNX graph under construction during an export, and the names of the
ember tensors in it (graph inputs, parameters, op outputs, constants)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import _dtype as D
from ..tensor import Tensor
from .symint import SymInt

ONNX_DTYPES = {
    D.float32: TensorProto.FLOAT,
    D.float64: TensorProto.DOUBLE,
    D.float16: TensorProto.FLOAT16,
    D.bfloat16: TensorProto.BFLOAT16,
    D.int64: TensorProto.INT64,
    D.int32: TensorProto.INT32,
    D.int8: TensorProto.INT8,
    D.bool_: TensorProto.BOOL,
}

_SYM_OPS = {"add": "Add", "sub": "Sub", "mul": "Mul", "floordiv": "Div", "mod": "Mod"}


class ExportError(ValueError):
    """The model can't be exported as traced (an op, a mode or an argument that ONNX or
    this exporter can't express); the message names the op and the module."""


class Unusable:
    """The name bound to an op output that has no ONNX counterpart (max pooling's
    indices): using it raises, leaving it unused is fine."""

    def __init__(self, why: str):
        self.why = why


class Graph:
    """Nodes, initializers and the ember-tensor -> graph-name map of one export."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self._names: dict[int, Any] = {}  # id(tensor._impl) -> name or Unusable
        self._traced: set[str] = set()  # names that depend on the graph inputs
        self._keep: list[Any] = []  # keeps bound impls alive so their ids stay unique
        self._counter = itertools.count()
        self._sym: dict[Any, str] = {}

    # ---- names --------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._counter)}"

    def bind(self, t: Tensor, name: Any, traced: bool = True) -> None:
        """Name t's value in the graph (traced: it depends on the inputs)."""
        self._names[id(t._impl)] = name
        self._keep.append(t._impl)
        if traced and isinstance(name, str):
            self._traced.add(name)

    def name_of(self, t: Tensor) -> Any:
        return self._names.get(id(t._impl))

    def is_traced(self, t: Any) -> bool:
        """t depends on the inputs (an Unusable output counts: using it must raise)."""
        if not isinstance(t, Tensor):
            return False
        name = self.name_of(t)
        return isinstance(name, Unusable) or name in self._traced

    def is_bound(self, t: Any) -> bool:
        return isinstance(t, Tensor) and self.name_of(t) is not None

    def value(self, t: Tensor) -> str:
        """t's name in the graph; a tensor made outside the graph (a constant built
        during forward) becomes an initializer with its current value."""
        name = self.name_of(t)
        if isinstance(name, Unusable):
            raise ExportError(name.why)
        if name is None:
            name = self.const(_numpy(t), "const")
            self.bind(t, name, traced=False)
        return name

    # ---- building -----------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        """Append a node; its output name (or list of names when n_out > 1)."""
        outs = [self.fresh(op) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=outs[0], **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, array: Any, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.asarray([int(v) for v in values], dtype=np.int64), "ints")

    def scalar(self, value: float, dtype: D.dtype) -> str:
        return self.const(np.asarray(value, dtype=dtype.numpy_dtype), "scalar")

    def cast(self, name: str, src: D.dtype, dst: D.dtype) -> str:
        return name if src is dst else self.node("Cast", [name], to=ONNX_DTYPES[dst])

    def reduce(self, op: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
        """A Reduce* node over axes (an input from opset 18 on, ReduceSum's since 13)."""
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [x], axes=list(axes), keepdims=int(keepdims))

    # ---- sizes --------------------------------------------------------------------
    def shape_vector(self, dims: Sequence[Any]) -> str:
        """A 1-D int64 value of the sizes: a constant, or computed in the graph where a
        size is a SymInt."""
        if not any(isinstance(d, SymInt) for d in dims):
            return self.ints(dims)
        parts = [self.size(d) if isinstance(d, SymInt) else self.ints([d]) for d in dims]
        return self.node("Concat", parts, axis=0)

    def size(self, d: Any) -> str:
        """A SymInt (or int) as a 1-element int64 value."""
        if not isinstance(d, SymInt):
            return self.ints([d])
        key = _expr_key(d)
        if key not in self._sym:
            if key[0] == "dim":
                _, name, axis = key
                self._sym[key] = self.node("Shape", [name], start=axis, end=axis + 1)
            else:
                op, a, b = d.expr
                self._sym[key] = self.node(_SYM_OPS[op], [self.size(a), self.size(b)])
        return self._sym[key]


def _expr_key(d: Any) -> tuple:
    """A hashable key of d's expression: SymInts equal as ints may differ as sizes."""
    if not isinstance(d, SymInt):
        return ("int", int(d))
    if d.expr[0] == "dim":
        return d.expr
    op, a, b = d.expr
    return (op, _expr_key(a), _expr_key(b))


def _numpy(t: Tensor) -> np.ndarray:
    if t.dtype is D.bfloat16:
        raise ExportError(
            "ember.onnx.export: a bfloat16 constant can't be written; convert the model to "
            "float32 first"
        )
    return np.array(t.detach().cpu())
