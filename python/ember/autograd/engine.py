"""The backward pass: walk the recorded graph from the outputs in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._primitives import full
from ..tensor import Tensor
from .function import ACCUMULATED_IN_PLACE, AccumulateGrad, Node, accumulator
from .grad_mode import no_grad


def _accumulate(acc: AccumulateGrad, grad: Any, owned: bool) -> None:
    """Add ``grad`` into the leaf's .grad (None: an op already did, see
    ACCUMULATED_IN_PLACE), then run its post-accumulate hooks."""
    t = acc.tensor
    if grad is None:
        pass
    elif t.grad is None:
        # Keep a private contiguous copy unless the engine made this gradient itself.
        t.grad = grad if owned and grad.is_contiguous() and grad._base is None else grad.clone()
    else:
        t.grad.add_(grad)
    for hook in tuple(acc.post_hooks.values()):
        hook(t)


# One list per running backward (a hook may itself run a backward): the callbacks
# queue_callback added during it, run once its graph is done.
_final_callbacks: list[list] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the backward pass now running has finished (torch's
    ``Variable._execution_engine.queue_callback``): a hook uses it to act after every
    gradient of this pass is accumulated. Outside backward it raises RuntimeError."""
    if not _final_callbacks:
        raise RuntimeError("ember.autograd: queue_callback can only be called during backward")
    _final_callbacks[-1].append(callback)


def _fit(grad: Any, shape: tuple, dtype: Any, where: str) -> Any:
    if tuple(grad.shape) != tuple(shape):
        raise RuntimeError(
            f"ember.autograd: {where} returned a gradient of shape {tuple(grad.shape)} for an "
            f"input of shape {tuple(shape)}"
        )
    return grad if grad.dtype is dtype else grad.to(dtype)


def run_backward(roots: list, retain_graph: bool) -> None:
    """roots: (Node or AccumulateGrad, output_index, gradient) triples. Callbacks queued
    during the pass run after it, in order (not when the pass raised)."""
    callbacks: list = []
    _final_callbacks.append(callbacks)
    try:
        _run_graph(roots, retain_graph)
    finally:
        _final_callbacks.pop()
    with no_grad():
        for cb in callbacks:
            cb()


def _run_graph(roots: list, retain_graph: bool) -> None:
    with no_grad():
        deps: dict = {}
        seen: set = set()
        stack = [fn for fn, _, _ in roots]
        while stack:
            fn = stack.pop()
            if fn in seen:
                continue
            seen.add(fn)
            if isinstance(fn, Node):
                for e in fn.edges:
                    if e is not None:
                        deps[e[0]] = deps.get(e[0], 0) + 1
                        stack.append(e[0])

        buffers: dict = {}
        in_place: set = set()  # leaves an op accumulated into itself
        user_grads = {id(g) for _, _, g in roots}

        def deliver(fn: Any, nr: int, grad: Any) -> None:
            slot = buffers.setdefault(fn, [None] * (fn.n_outputs if isinstance(fn, Node) else 1))
            slot[nr] = grad if slot[nr] is None else slot[nr] + grad

        for fn, nr, g in roots:
            deliver(fn, nr, g)
        ready = []
        for fn, _, _ in roots:
            if deps.get(fn, 0) == 0 and fn not in ready:
                ready.append(fn)

        while ready:
            fn = ready.pop()
            grads = buffers.pop(fn, None)
            if isinstance(fn, AccumulateGrad):
                g = None if grads is None else grads[0]
                if g is not None or fn in in_place:
                    _accumulate(fn, g, owned=id(g) not in user_grads)
                continue
            if grads is None or all(g is None for g in grads):
                in_grads = (None,) * len(fn.edges)
            else:
                if fn.n_outputs > 1:  # unused outputs get zero gradients
                    grads = [
                        full(m[0], 0, m[1], m[2]) if g is None else g
                        for g, m in zip(grads, fn.out_meta)
                    ]
                in_grads = fn.apply(tuple(grads))
                if len(in_grads) < len(fn.edges):
                    raise RuntimeError(
                        f"ember.autograd: {fn.name()} returned {len(in_grads)} gradients for "
                        f"{len(fn.edges)} inputs"
                    )
            if not retain_graph:
                fn.ctx._free()
            for e, g in zip(fn.edges, in_grads):
                if e is None:
                    continue
                target, nr = e
                if g is ACCUMULATED_IN_PLACE:
                    in_place.add(target)
                elif g is not None:
                    if isinstance(target, AccumulateGrad):
                        shape, dtype = target.tensor.shape, target.tensor.dtype
                    else:
                        shape, dtype = target.out_meta[nr][0], target.out_meta[nr][1]
                    deliver(target, nr, _fit(g, shape, dtype, fn.name()))
                deps[target] -= 1
                if deps[target] == 0:
                    ready.append(target)


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """Compute gradients of ``tensors`` w.r.t. graph leaves, accumulating into ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,) * len(tensors) if grad_tensors is None else (grad_tensors,)
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "ember.autograd: element 0 of tensors does not require grad and does not have "
                "a grad_fn"
            )
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(
                    f"ember.autograd: grad can be implicitly created only for scalar outputs; "
                    f"got shape {tuple(t.shape)}: pass a gradient to backward()"
                )
            g = full(t.shape, 1, t.dtype, t.device)
        elif not isinstance(g, Tensor):
            raise TypeError(f"ember.autograd: gradient must be a Tensor, got {type(g).__name__}")
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(
                f"ember.autograd: gradient of shape {tuple(g.shape)} does not match the output "
                f"shape {tuple(t.shape)}"
            )
        fn = t.grad_fn if t.grad_fn is not None else accumulator(t)
        roots.append((fn, t._output_nr if t.grad_fn is not None else 0, g.detach()))
    run_backward(roots, retain_graph)


def tensor_backward(
    self: Tensor, gradient: Tensor | None = None, retain_graph: bool = False
) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

    ``gradient`` is required unless self has one element.
    """
    backward(self, gradient, retain_graph=retain_graph)
