"""Gradient hooks: torch's ``Tensor.register_post_accumulate_grad_hook`` and the
handle every ``register_*_hook`` returns. The engine calls a leaf's hooks right after
it writes the leaf's ``.grad`` (see ``engine._accumulate``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tensor import Tensor
from .function import accumulator


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods: ``remove()`` unregisters the hook
    (also usable as a context manager)."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def register_post_accumulate_grad_hook(
    self: Tensor, hook: Callable[[Tensor], None]
) -> RemovableHandle:
    """Call ``hook(tensor)`` each time backward has accumulated a gradient into this
    leaf's ``.grad`` (the hook sees the updated ``.grad``; its return value is ignored).

    Only leaves that require grad have a ``.grad`` to accumulate into; a non-leaf
    raises RuntimeError, as in torch."""
    if not self.requires_grad:
        raise RuntimeError(
            "ember: cannot register a hook on a tensor that doesn't require gradient"
        )
    if self.grad_fn is not None:
        raise RuntimeError(
            "ember: post accumulate grad hooks cannot be registered on non-leaf tensors"
        )
    if not callable(hook):
        raise TypeError(f"ember: the hook must be callable, got {type(hook).__name__}")
    hooks = accumulator(self).post_hooks
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle
