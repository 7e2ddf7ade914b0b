"""Tracer: runs a model's forward pass while every autograd Function applied at the top
level (not the ones an op runs inside itself) is turned into ONNX nodes by its export
rule (rules.py).

Everything it changes is restored on exit: ``Function.apply`` (to record),
``Module.__call__`` (to know the module path for error messages), and with dynamic
axes ``Tensor.shape`` and the shape-argument helpers of ember.ops.shape (so sizes read
from traced tensors stay symbolic, see symint.py). In-place writes to traced tensors
and parameters, and reading a traced tensor's values into Python, raise: the graph
would silently keep the example's values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..autograd.function import Function
from ..nn.module import Module
from ..tensor import Tensor
from .graph import ExportError, Graph
from .rules import rule_for
from .symint import SymInt, has_symint


class Tracer:
    """The state of one trace: the graph, the op nesting depth and the module path."""

    def __init__(self, graph: Graph, model: Module, fold_constants: bool, symbolic: bool):
        self.graph = graph
        self.fold_constants = fold_constants
        self.symbolic = symbolic
        self.depth = 0
        self.module_names = {id(m): name for name, m in model.named_modules()}
        self.module_stack: list[str] = []

    def where(self) -> str:
        path = self.module_stack[-1] if self.module_stack else ""
        return f"module '{path}'" if path else "the model's own forward"

    def record(self, cls: type, args: tuple, out: Any) -> None:
        g = self.graph
        live = g.is_traced if self.fold_constants else g.is_bound
        if not any(live(a) for a in args) and not has_symint(args):
            return  # constant inputs only: the outputs are constants (folded)
        outs = out if isinstance(out, tuple) else (out,)
        rule = rule_for(cls)
        if rule is None:
            raise ExportError(
                f"ember.onnx.export: the op {cls.__name__} (in {self.where()}) has no ONNX "
                "export rule"
            )
        try:
            names = rule(g, outs, *args)
        except ExportError as e:
            raise ExportError(f"{e} (op {cls.__name__} in {self.where()})") from None
        names = names if isinstance(names, (tuple, list)) else (names,)
        for t, name in zip(outs, names):
            g.bind(t, name)

    def sym_shape(self, t: Tensor) -> tuple:
        name = self.graph.name_of(t)
        shape = t._impl.shape
        if self.depth or not isinstance(name, str) or name not in self.graph._traced:
            return shape
        return tuple(SymInt(s, ("dim", name, i)) for i, s in enumerate(shape))


@contextmanager
def tracing(tracer: Tracer) -> Iterator[None]:
    """Install the tracer's hooks for the duration of the block."""
    apply_descriptor = Function.__dict__["apply"]
    original_apply = apply_descriptor.__func__
    original_call = Module.__call__
    original_shape = Tensor.shape
    guarded = {name: getattr(Tensor, name) for name in ("_bump_version", *_READS)}

    def apply(cls: type, *args: Any) -> Any:
        if tracer.depth:
            return original_apply(cls, *args)
        tracer.depth += 1
        try:
            out = original_apply(cls, *args)
        finally:
            tracer.depth -= 1
        tracer.record(cls, args, out)
        return out

    def call(module: Module, *args: Any, **kwargs: Any) -> Any:
        tracer.module_stack.append(tracer.module_names.get(id(module), type(module).__name__))
        try:
            return original_call(module, *args, **kwargs)
        finally:
            tracer.module_stack.pop()

    def bump_version(t: Tensor) -> None:
        if tracer.graph.is_bound(t):
            raise ExportError(
                f"ember.onnx.export: an in-place write to a traced tensor or parameter (in "
                f"{tracer.where()}) can't be exported; write it out of place (x = x + y)"
            )
        guarded["_bump_version"](t)

    def reader(name: str) -> Any:
        def read(t: Tensor, *args: Any, **kwargs: Any) -> Any:
            if not tracer.depth and tracer.graph.is_traced(t):
                raise ExportError(
                    f"ember.onnx.export: Tensor.{name}() of a tensor computed from the inputs "
                    f"(in {tracer.where()}) would freeze the example's values into the graph; "
                    "keep the computation in tensor ops"
                )
            return guarded[name](t, *args, **kwargs)

        return read

    Function.apply = classmethod(apply)
    Function.intercepted = True
    Module.__call__ = call
    Tensor._bump_version = bump_version
    for name in _READS:
        setattr(Tensor, name, reader(name))
    if tracer.symbolic:
        Tensor.shape = property(tracer.sym_shape)
    try:
        yield
    finally:
        Function.apply = apply_descriptor
        Function.intercepted = False
        Module.__call__ = original_call
        Tensor.shape = original_shape
        for name, fn in guarded.items():
            setattr(Tensor, name, fn)


_READS = ("numpy", "item", "tolist", "__array__")
