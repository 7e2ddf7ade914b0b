"""The backward pass: walk the recorded graph from the outputs in dependency order."""

from __future__ import annotations

from typing import Any

from .._primitives import full
from ..tensor import Tensor
from .function import AccumulateGrad, Node, accumulator
from .grad_mode import no_grad


def _accumulate(acc: AccumulateGrad, grad: Any, owned: bool) -> None:
    t = acc.tensor
    if t.grad is None:
        # Keep a private contiguous copy unless the engine made this gradient itself.
        t.grad = grad if owned and grad.is_contiguous() and grad._base is None else grad.clone()
    else:
        t.grad.add_(grad)


def _fit(grad: Any, shape: tuple, dtype: Any, where: str) -> Any:
    if tuple(grad.shape) != tuple(shape):
        raise RuntimeError(
            f"ember.autograd: {where} returned a gradient of shape {tuple(grad.shape)} for an "
            f"input of shape {tuple(shape)}"
        )
    return grad if grad.dtype is dtype else grad.to(dtype)


def run_backward(roots: list, retain_graph: bool) -> None:
    """roots: (Node or AccumulateGrad, output_index, gradient) triples."""
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
                if grads is not None and grads[0] is not None:
                    _accumulate(fn, grads[0], owned=id(grads[0]) not in user_grads)
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
                if g is not None:
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
