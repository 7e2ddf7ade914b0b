"""Structural changes a model went through after it was built from its config: pruning
shrank layers, quantization swapped modules. Each change is recorded on the model as a
small JSON document, so a model folder can rebuild the same structure (from the config,
without random init) before the weights are loaded into it.

The packages that change models (ember.prune, ember.quant) sit above this layer: they
:func:`register` a replay per kind at import and :func:`record` what they did.

>>> record(model, "quant.dynamic", modules=["h.0.mlp.c_fc", ...])
>>> recorded(model)              # [{"kind": "quant.dynamic", "modules": [...]}]
>>> replay(shell, records)       # the same swaps on a freshly built model
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..nn.module import Module

_ATTR = "_ember_transforms"  # in the model's __dict__: deepcopy carries it along
_REPLAYS: dict[str, Callable[[Module, dict], None]] = {}


def register(kind: str, replay: Callable[[Module, dict], None]) -> None:
    """Make ``kind`` loadable: ``replay(model, record)`` redoes the structural part of the
    change on a model built from its config (shapes and module types; the weights come
    from the file). It raises ValueError for a record it cannot apply."""
    _REPLAYS[kind] = replay


def record(model: Module, kind: str, **params: Any) -> None:
    """Append ``{"kind": kind, **params}`` (JSON values only) to ``model``'s history."""
    if kind not in _REPLAYS:
        raise ValueError(f"ember.models.transforms: no replay registered for {kind!r}")
    model.__dict__.setdefault(_ATTR, []).append({"kind": kind, **params})


def recorded(model: Module) -> list[dict]:
    """The changes recorded on ``model``, oldest first (a copy)."""
    return [dict(r) for r in model.__dict__.get(_ATTR, [])]


def replay(model: Module, records: Any) -> None:
    """Redo ``records`` (as written by :func:`recorded`) on ``model``, in order, and keep
    them as its history. ValueError for a malformed or unknown record."""
    if not isinstance(records, list):
        raise ValueError(f"transforms must be a list, got {type(records).__name__}")
    for i, r in enumerate(records):
        kind = r.get("kind") if isinstance(r, dict) else None
        if kind not in _REPLAYS:
            known = ", ".join(sorted(_REPLAYS)) or "none"
            raise ValueError(f"transform {i} has unknown kind {kind!r} (known: {known})")
        try:
            _REPLAYS[kind](model, r)
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"transform {i} ({kind}) does not fit this model: {e}") from None
    model.__dict__[_ATTR] = [dict(r) for r in records]
