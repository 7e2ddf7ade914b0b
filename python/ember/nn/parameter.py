"""Parameter: a tensor that a Module registers as learnable."""

from __future__ import annotations

from ..ops.creation import empty
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and that a Module collects in
    ``parameters()``. It shares memory with the tensor it wraps."""

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"ember.nn.Parameter: expected a Tensor, got {type(data).__name__}")
        super().__init__(data.detach()._impl)
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
