"""Function: a differentiable operation, forward and backward side by side.

Subclasses define ``forward(ctx, *args)`` (computes with kernels, no recording) and
``backward(ctx, *grad_outputs)`` (returns one gradient per forward argument, None for
non-tensors or inputs that need none). ``MyFn.apply(*args)`` runs forward and, when
grad mode is on and an input requires grad, links a Node into the graph.
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor as _Tensor
from .grad_mode import _state as _grad_state


class Context:
    """What forward hands to backward: saved tensors plus any attributes."""

    def __init__(self) -> None:
        self._saved: tuple | None = ()
        self._saved_versions: tuple = ()
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._version for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                "ember.autograd: trying to backward through the graph a second time (or to "
                "read saved tensors after they were freed); pass retain_graph=True to the "
                "first backward()"
            )
        for t, v in zip(self._saved, self._saved_versions):
            if t is not None and t._version != v:
                raise RuntimeError(
                    "ember.autograd: one of the tensors needed for gradient computation has "
                    f"been modified by an in-place operation (shape {tuple(t.shape)}, version "
                    f"{t._version}, expected {v})"
                )
        return self._saved

    def _free(self) -> None:
        self._saved = None


class Node:
    """A recorded call: the Function, its context and where each input's gradient goes.

    ``edges[i]`` is ``(node, output_index)`` for an input produced by another op,
    ``(AccumulateGrad, 0)`` for a leaf that requires grad, or None.
    """

    __slots__ = ("fn", "ctx", "edges", "n_outputs", "out_meta", "__weakref__")

    def __init__(self, fn: type, ctx: Context, edges: list, out_meta: list):
        self.fn = fn
        self.ctx = ctx
        self.edges = edges
        self.n_outputs = len(out_meta)
        self.out_meta = out_meta  # (shape, dtype, device) per output, for zero gradients

    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    def apply(self, grads: tuple) -> tuple:
        out = self.fn.backward(self.ctx, *grads)
        return out if isinstance(out, tuple) else (out,)


class AccumulateGrad:
    """The sink of a leaf tensor: adds incoming gradients into ``tensor.grad``, then
    calls the post-accumulate hooks (id -> hook, see ``autograd.hooks``)."""

    __slots__ = ("tensor", "post_hooks", "__weakref__")

    def __init__(self, tensor: Any):
        self.tensor = tensor
        self.post_hooks: dict = {}

    def name(self) -> str:
        return "AccumulateGrad"

    __repr__ = lambda self: "<AccumulateGrad>"  # noqa: E731


class _AccumulatedInPlace:
    """What a backward returns for a leaf input whose gradient it already added into
    the leaf's ``.grad`` itself (saving a temporary): the engine then runs the leaf's
    post-accumulate hooks as if it had accumulated the gradient."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ACCUMULATED_IN_PLACE"


ACCUMULATED_IN_PLACE = _AccumulatedInPlace()


def accumulator(t: Any) -> AccumulateGrad:
    """The gradient sink of a leaf tensor, made on first use."""
    if t._accumulator is None:
        t._accumulator = AccumulateGrad(t)
    return t._accumulator


def _edge(t: Any) -> Any:
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    if t.requires_grad:
        return (accumulator(t), 0)
    return None


class Function:
    """Base class of differentiable operations (see the module docstring)."""

    # True while something replaces ``apply`` to see every op (the ONNX tracer): ops' fast
    # paths for calls that record no gradient skip ``apply``, so they stand down meanwhile.
    intercepted = False

    @staticmethod
    def forward(ctx: Context, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Any:
        # Hot path of every op: no context managers, no per-call imports.
        ctx = Context()
        state = _grad_state
        if not getattr(state, "enabled", True):
            return cls.forward(ctx, *args)
        needs = tuple(isinstance(a, _Tensor) and a._requires_grad for a in args)
        state.enabled = False
        try:
            if True not in needs:
                return cls.forward(ctx, *args)
            ctx.needs_input_grad = needs
            out = cls.forward(ctx, *args)
        finally:
            state.enabled = True
        outs = out if type(out) is tuple else (out,)
        edges = [_edge(a) if n else None for a, n in zip(args, needs)]
        node = Node(cls, ctx, edges, [(o.shape, o.dtype, o.device) for o in outs])
        for i, o in enumerate(outs):
            if o.dtype.is_floating_point:
                o._requires_grad = True
                o.grad_fn = node
                o._output_nr = i
        return out
