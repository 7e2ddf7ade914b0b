"""Which nn.Linear layers a quantization pass swaps, and the swapping itself (shared by
quantize_dynamic and quantize_weights)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.sparse import Embedding

# An output head is named like this, or shares its weight with an embedding; it stays fp32
# by default: its logits feed a softmax directly (no later layer averages the error away)
# and a tied weight is the embedding table too.
HEAD_NAMES = ("lm_head", "head", "classifier")


def _is_head(name: str, linear: Linear, embedding_weights: set[int]) -> bool:
    return name.rpartition(".")[2] in HEAD_NAMES or id(linear.weight) in embedding_weights


def select_linears(
    model: Module, modules: Iterable[str] | None, include_head: bool, where: str, hint: str
) -> list[str]:
    """The dotted names of the layers to swap: every nn.Linear but the heads (unless
    include_head), or exactly ``modules`` (each must be an nn.Linear: TypeError naming it
    and what it is; ValueError for a name the model does not have)."""
    if not isinstance(model, Module):
        raise TypeError(f"{where}: expected an ember.nn.Module, got {type(model).__name__}")
    found = dict(model.named_modules())
    if modules is not None:
        names = [modules] if isinstance(modules, str) else list(modules)
        for name in names:
            if name not in found or name == "":
                raise ValueError(f"{where}: {type(model).__name__} has no submodule {name!r}")
            if not isinstance(found[name], Linear):
                raise TypeError(
                    f"{where}: cannot quantize {name!r}, a {type(found[name]).__name__}: "
                    f"only nn.Linear layers are supported here ({hint})"
                )
        return list(dict.fromkeys(names))
    tied = {id(m.weight) for m in found.values() if isinstance(m, Embedding)}
    return [
        name
        for name, m in found.items()
        if isinstance(m, Linear) and (include_head or not _is_head(name, m, tied))
    ]


def target(model: Module, inplace: bool) -> Module:
    return model if inplace else copy.deepcopy(model)


def swap(model: Module, names: Iterable[str], make: Callable[[str, Linear], Module]) -> None:
    """Replace each named nn.Linear by ``make(name, linear)``."""
    for name in names:
        linear = model.get_submodule(name)
        if not isinstance(linear, Linear):
            raise TypeError(f"{name!r} is a {type(linear).__name__}, not an nn.Linear")
        model.set_submodule(name, make(name, linear))
