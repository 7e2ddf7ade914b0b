"""``ember.compile``: torch's ``torch.compile``, accepted and a no-op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile(  # noqa: A001 - torch's name
    model: Callable | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable | None = None,
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    name: str | None = None,
    disable: bool = False,
) -> Any:
    """Return ``model`` unchanged (a module or function; also as ``@ember.compile`` and
    ``@ember.compile(mode=...)``). ember has no graph compiler: its ops already run as
    hand-written kernels, so the options are accepted and ignored."""
    if model is None:
        return lambda fn: fn
    if not callable(model):
        raise TypeError(f"ember.compile: expected a module or function, got {type(model).__name__}")
    return model
