"""ember.onnx.export: torch.onnx.export's signature over the tracer (tracer.py)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import onnx
from onnx import helper

from ..autograd.grad_mode import no_grad
from ..nn.module import Module
from ..serialization.atomic import atomic_write_bytes
from ..tensor import Tensor
from .graph import ONNX_DTYPES, ExportError, Graph
from .tracer import Tracer, tracing

DEFAULT_OPSET = 17
OPSETS = range(17, 21)  # LayerNormalization needs 17; onnx >= 1.15 knows up to 20


def export(
    model: Module,
    args: Any,
    f: str | os.PathLike | io.IOBase,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Any] | None = None,
    opset_version: int | None = None,
    do_constant_folding: bool = True,
    export_params: bool = True,
    verbose: bool = False,
) -> None:
    """Trace ``model(*args)`` in eval mode into an ONNX file (torch.onnx.export's API).

    Args:
        args: the example inputs: a Tensor, or a tuple of positional arguments (tensors,
            or tuples/lists of tensors, or other values passed through as constants) whose
            last element may be a dict of keyword arguments.
        f: a path (written atomically) or a binary file object.
        input_names / output_names: names of the flattened tensor inputs and outputs
            (default ``input_0``..., ``output_0``...; None outputs are dropped).
        dynamic_axes: ``{name: [axis, ...]}`` or ``{name: {axis: "dim_name"}}``: these
            input/output axes may have another size at run time; sizes the model reads
            from them are computed in the graph.
        opset_version: 17 (default) to 20.
        do_constant_folding: also fold ops whose inputs are parameters only (slices of
            weights, ...) into constants; ops on constants alone are always folded.
        export_params: parameters and buffers as initializers (True) or as extra graph
            inputs named like their state_dict keys (False).
        verbose: print the graph.

    The trace follows the example: Python control flow and sizes taken out of tensors
    (``int(x.shape[0])`` arithmetic outside tensor ops, loops over a dynamic length) are
    fixed at the example's values. Ops without an ONNX form raise ExportError naming the
    op and the module.

    Shape: any model whose forward takes and returns tensors (nested in tuples, lists or
    dicts).
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"ember.onnx.export: model must be an ember.nn.Module, got {type(model).__name__}"
        )
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if opset not in OPSETS:
        raise ValueError(
            f"ember.onnx.export: opset_version must be in {OPSETS.start}..{OPSETS.stop - 1}, "
            f"got {opset_version!r}"
        )
    positional, kwargs = _split_args(args)
    inputs = _tensors(positional) + _tensors(list(kwargs.values()))
    if not inputs:
        raise ValueError("ember.onnx.export: args holds no tensor to make a graph input of")
    in_names = _names(input_names, len(inputs), "input")
    dynamic = _dynamic_axes(dynamic_axes)
    graph = Graph(opset)
    for t, name in zip(inputs, in_names):
        graph.inputs.append(_value_info(name, t, dynamic.get(name, {}), static=True))
        graph.bind(t, name)
    params = _bind_state(graph, model, export_params)
    tracer = Tracer(graph, model, do_constant_folding, symbolic=bool(dynamic))
    was_training = model.training
    model.eval()
    try:
        with no_grad(), tracing(tracer):
            result = model(*positional, **kwargs)
    finally:
        model.train(was_training)
    outputs = _tensors(result)
    if not outputs:
        raise ValueError("ember.onnx.export: the model returned no tensor")
    out_names = _names(output_names, len(outputs), "output")
    unknown = set(dynamic) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(
            f"ember.onnx.export: dynamic_axes names {sorted(unknown)}, which are neither input "
            f"names {in_names} nor output names {out_names}"
        )
    out_infos = []
    for t, name in zip(outputs, out_names):
        graph.nodes.append(helper.make_node("Identity", [graph.value(t)], [name], name=name))
        out_infos.append(_value_info(name, t, dynamic.get(name, {}), static=not dynamic))
    model_proto = _model(graph, params, out_infos)
    if verbose:
        print(helper.printable_graph(model_proto.graph))
    data = model_proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
    else:
        atomic_write_bytes(f, data)


def _split_args(args: Any) -> tuple[list, dict]:
    if isinstance(args, Tensor):
        return [args], {}
    if not isinstance(args, tuple):
        raise TypeError(
            f"ember.onnx.export: args must be a Tensor or a tuple of arguments, got "
            f"{type(args).__name__}"
        )
    if args and isinstance(args[-1], dict):
        return list(args[:-1]), dict(args[-1])
    return list(args), {}


def _tensors(obj: Any) -> list[Tensor]:
    """The tensors in obj, depth first (None and other values skipped)."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _names(given: Sequence[str] | None, n: int, kind: str) -> list[str]:
    if given is None:
        return [f"{kind}_{i}" for i in range(n)]
    names = list(given)
    if not all(isinstance(s, str) and s for s in names):
        raise TypeError(f"ember.onnx.export: {kind}_names must be non-empty strings, got {names}")
    if len(names) > n or len(set(names)) != len(names):
        raise ValueError(
            f"ember.onnx.export: {len(names)} {kind}_names {names} for {n} {kind} tensors "
            "(names must be unique and at most one per tensor)"
        )
    return names + [f"{kind}_{i}" for i in range(len(names), n)]


def _dynamic_axes(spec: Mapping[str, Any] | None) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for name, axes in (spec or {}).items():
        if isinstance(axes, Mapping):
            out[name] = {int(a): str(label) for a, label in axes.items()}
        elif isinstance(axes, (list, tuple)) and all(isinstance(a, int) for a in axes):
            out[name] = {a: f"{name}_dim_{a}" for a in axes}
        else:
            raise TypeError(
                f"ember.onnx.export: dynamic_axes[{name!r}] must be a list of axes or a dict "
                f"axis -> name, got {axes!r}"
            )
    return out


def _value_info(name: str, t: Tensor, dynamic: dict[int, str], static: bool) -> Any:
    nd = t.ndim
    for a in dynamic:
        if not -nd <= a < nd:
            raise ValueError(
                f"ember.onnx.export: dynamic axis {a} of {name!r} is out of range for its "
                f"{nd} dimensions"
            )
    labels = {a % nd: label for a, label in dynamic.items()}
    dims: list[Any] = [
        labels.get(i, int(s) if static or i in labels else None)
        for i, s in enumerate(t._impl.shape)
    ]
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], dims)


def _bind_state(graph: Graph, model: Module, export_params: bool) -> list:
    """Parameters and buffers: initializers, or graph inputs without export_params."""
    infos = []
    seen = set()
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if id(t._impl) in seen:
            continue
        seen.add(id(t._impl))
        if export_params:
            graph.initializers.append(onnx.numpy_helper.from_array(_array(t, name), name))
        else:
            infos.append(_value_info(name, t, {}, static=True))
        graph.bind(t, name, traced=False)
    return infos


def _array(t: Tensor, name: str) -> Any:
    if t.dtype.name == "bfloat16":
        raise ExportError(
            f"ember.onnx.export: parameter {name!r} is bfloat16; convert the model to float32"
        )
    return t.detach().cpu().numpy().copy()


def _model(graph: Graph, params: list, outputs: list) -> onnx.ModelProto:
    """The ModelProto without unused initializers and parameter inputs, checked."""
    used = {i for n in graph.nodes for i in n.input}
    inits = [t for t in graph.initializers if t.name in used]
    params = [p for p in params if p.name in used]
    g = helper.make_graph(graph.nodes, "ember", graph.inputs + params, outputs, inits)
    opset = [helper.make_opsetid("", graph.opset)]
    m = helper.make_model(g, opset_imports=opset, producer_name="ember")
    m.ir_version = helper.find_min_ir_version_for(opset)
    onnx.checker.check_model(m)
    return m
