"""2:4 semi-structured sparsity for inference: :func:`semi_structured` swaps a model's
Linear layers for :class:`SemiStructuredLinear`, which keeps the 2 largest-|w| weights of
every group of 4 input columns in a compressed form (ember.ops.sparse24) and runs its own
kernel: half the multiply-adds, 5 / 8 of the weight bytes.

>>> report = ember.prune.semi_structured(model)   # in place
>>> report.replaced, report.skipped                # names; name -> why not

Dropping half the weights changes the model's outputs: fine-tune with 2:4 masks first
(or accept the accuracy loss). The compressed layers do not train (no gradients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..models import transforms
from ..nn._derived_cache import DerivedCache
from ..nn.linear import Linear, apply_activation, check_activation
from ..nn.module import Module
from ..ops.creation import from_numpy
from ..ops.sparse24 import (
    compress_2to4,
    decompress_2to4,
    pack_rows16,
    rows16_min_tokens,
    sparse24_linear,
)
from ..tensor import Tensor
from .magnitude import is_pruned

_OP = "ember.prune.semi_structured"
_KIND = "prune.semi_structured"


class SemiStructuredLinear(Module):
    """y = x @ W.T + bias with W (out_features, in_features) 2:4-compressed, inference only.

    Buffers (all in ``state_dict()``): ``values`` float32 (out_features, in_features / 2),
    ``positions`` int8 (same shape, each value's column 0..3 in its group of 4) and
    ``bias`` float32 (out_features,) or None. A new layer holds a valid all-zero weight;
    :meth:`from_linear` compresses a trained Linear.

    Shape: (*, in_features) -> (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(
                    f"ember.prune.SemiStructuredLinear: {name} must be a positive int, got {v!r}"
                )
        if in_features % 4:
            raise ValueError(
                "ember.prune.SemiStructuredLinear: in_features must be a multiple of 4 "
                f"(2:4 groups), got {in_features}"
            )
        self.in_features = in_features
        self.out_features = out_features
        shape = (out_features, in_features // 2)
        self.register_buffer("values", from_numpy(np.zeros(shape, np.float32)))
        # Columns 0 and 1 of every group: a valid pattern, so the empty layer runs.
        pattern = np.tile(np.array([0, 1], np.int8), shape[1] // 2)
        self.register_buffer("positions", from_numpy(np.broadcast_to(pattern, shape).copy()))
        bias_init = from_numpy(np.zeros(out_features, np.float32)) if bias else None
        self.register_buffer("bias", bias_init)
        self._rows16 = DerivedCache()  # the many-token kernel's layout, built on first use

    @classmethod
    def from_linear(cls, linear: Linear) -> SemiStructuredLinear:
        """The 2:4-compressed copy of a float32 CPU Linear (in_features a multiple of 4)."""
        reason = _ineligible(linear)
        if reason:
            raise ValueError(f"ember.prune.SemiStructuredLinear.from_linear: {reason}")
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None)
        with no_grad():
            layer.values, layer.positions = compress_2to4(linear.weight.detach())
            if linear.bias is not None:
                layer.bias = linear.bias.detach().clone()
        return layer

    def forward(self, input: Tensor, activation: str | None = None) -> Tensor:
        act = check_activation(activation, "ember.prune.SemiStructuredLinear")
        packed = None
        min_tokens = rows16_min_tokens()
        if min_tokens is not None and input.numel() >= min_tokens * self.in_features:
            packed = self._rows16.get(
                (self.values, self.positions), lambda: pack_rows16(self.values, self.positions)
            )
        y = sparse24_linear(input, self.values, self.positions, self.bias, packed)
        return apply_activation(y, act)

    def to_dense(self) -> Tensor:
        """The dense weight with zeros where values were dropped.

        Shape: (out_features, in_features) float32.
        """
        return decompress_2to4(self.values, self.positions)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, sparsity=2:4"
        )


def _ineligible(m: Module) -> str:
    """Why ``m`` cannot become a SemiStructuredLinear ('' when it can)."""
    if not isinstance(m, Linear):
        return f"{type(m).__name__} is not a Linear"
    if is_pruned(m):
        return "it has magnitude-pruning masks (call ember.prune.remove first)"
    if m.in_features == 0 or m.in_features % 4:
        return f"in_features = {m.in_features} is not a positive multiple of 4"
    if m.out_features == 0:
        return "out_features = 0"
    if m.weight.dtype is not D.float32:
        return f"its weight is {m.weight.dtype} (the 2:4 kernel is float32 only)"
    if m.weight.device.type != "cpu":
        return f"its weight is on {m.weight.device} (the 2:4 kernel is CPU only)"
    return ""


@dataclass
class SemiStructuredReport:
    """What :func:`semi_structured` did: the replaced Linears' names, and for each Linear it
    left dense, why."""

    replaced: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _shared_weights(model: Module) -> set[int]:
    owners: dict[int, int] = {}
    for _, m in model.named_modules():
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    return {k for k, v in owners.items() if v > 1}


def _chosen(model: Module, modules: Iterable[Module | str]) -> list[tuple[str, Module]]:
    named = list(model.named_modules())
    by_id = {id(m): n for n, m in named}
    by_name = dict(named)
    chosen = []
    for m in modules:
        name = m if isinstance(m, str) else by_id.get(id(m))
        if name is None or name not in by_name:
            what = repr(m) if isinstance(m, str) else f"a {type(m).__name__}"
            raise ValueError(f"{_OP}: {what} passed in modules is not part of the model")
        chosen.append((name, by_name[name]))
    return chosen


def semi_structured(
    model: Module, *, modules: Iterable[Module | str] | None = None
) -> SemiStructuredReport:
    """Replace every eligible Linear of ``model`` (or those in ``modules``, given as modules
    or names) by its :class:`SemiStructuredLinear`, in place; returns a
    :class:`SemiStructuredReport`.

    Eligible: a float32 CPU Linear whose in_features is a multiple of 4, not magnitude-masked,
    whose weight no other module shares (a tied lm_head), and not ``model`` itself. Without
    ``modules`` the others are skipped and listed with the reason; a module in ``modules``
    that is not eligible is a ValueError naming it.

    Shape: each layer keeps its (*, in_features) -> (*, out_features).
    """
    shared = _shared_weights(model)
    explicit = modules is not None
    targets = (
        _chosen(model, modules)
        if explicit
        else [(n, m) for n, m in model.named_modules() if isinstance(m, Linear)]
    )
    report = SemiStructuredReport()
    for name, m in targets:
        reason = _ineligible(m)
        if not reason and id(m.weight) in shared:
            reason = "its weight is shared with another module"
        if not reason and not name:
            reason = "it is the model itself (compress it with SemiStructuredLinear.from_linear)"
        if reason and explicit:
            raise ValueError(f"{_OP}: cannot make {name or 'the model'!r} 2:4 sparse: {reason}")
        if reason:
            report.skipped[name] = reason
            continue
        model.set_submodule(name, SemiStructuredLinear.from_linear(m))
        report.replaced.append(name)
    if report.replaced:  # so that a model folder rebuilds the same layers on load
        transforms.record(model, _KIND, modules=list(report.replaced))
    return report


def semi_structured_shell(model: Module, names: Iterable[str]) -> Module:
    """Swap the named Linears for empty SemiStructuredLinear layers of the same shapes, in
    place, so that a saved 2:4 model's state_dict can be loaded into ``model``; returns it.

    Shape: each layer keeps its (*, in_features) -> (*, out_features).
    """
    by_name = dict(model.named_modules())
    for name in names:
        m = by_name.get(name)
        if not name or not isinstance(m, Linear):
            found = "nothing" if m is None else f"a {type(m).__name__}"
            raise ValueError(
                f"ember.prune.semi_structured_shell: {name!r} must name a Linear inside the "
                f"model, found {found}"
            )
        model.set_submodule(
            name, SemiStructuredLinear(m.in_features, m.out_features, m.bias is not None)
        )
    return model


def _replay(model: Module, record: dict) -> None:
    modules = record["modules"]
    if not isinstance(modules, list) or not all(isinstance(n, str) for n in modules):
        raise TypeError("'modules' must be a list of layer names")
    semi_structured_shell(model, modules)


transforms.register(_KIND, _replay)


__all__ = [
    "SemiStructuredLinear",
    "SemiStructuredReport",
    "semi_structured",
    "semi_structured_shell",
]
