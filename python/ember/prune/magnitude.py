"""Unstructured magnitude pruning: masks that zero the smallest |w| of Linear and Conv
weights, kept through training, and :func:`remove` to bake them in.

Why a reparametrization (torch.nn.utils.prune's scheme) and not masked gradients: ember
has no gradient or optimizer-step hooks, and a weight masked in place drifts back the
moment any optimizer with state (momentum, Adam moments from before pruning) or weight
decay touches it. Instead the trained tensor becomes ``weight_orig`` (the same Parameter
object, so existing optimizers keep updating it) beside a ``weight_mask`` buffer, and
``weight`` is computed as ``weight_orig * weight_mask`` on every access. Its gradient
reaches ``weight_orig`` multiplied by the mask, so masked entries get exactly zero
gradient, and whatever an optimizer does to them, the weight the model uses stays zero.
Computing on access (a property on the module's class) rather than in a forward
pre-hook also covers code that reads ``layer.weight`` without calling the layer (GPT's
MLP fuses c_fc's GELU into ``F.linear(x, c_fc.weight, ...)``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from ..autograd.grad_mode import no_grad
from ..nn.conv import _ConvNd
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..ops.creation import from_numpy, ones_like
from ..tensor import Tensor
from ._amount import check_amount, count

PRUNABLE = (Linear, _ConvNd)
_MASKED_CLASSES: dict[type, type] = {}


def _masked_weight(module: Module) -> Tensor:
    return module.weight_orig * module.weight_mask


def _masked_class(cls: type) -> type:
    """``cls`` with ``weight`` computed from weight_orig and weight_mask (same name, so
    reprs and isinstance checks are unchanged)."""
    if cls not in _MASKED_CLASSES:
        attrs = {"weight": property(_masked_weight), "__module__": cls.__module__}
        _MASKED_CLASSES[cls] = type(cls.__name__, (cls,), attrs)
    return _MASKED_CLASSES[cls]


def is_pruned(module: Module) -> bool:
    """True when ``module``'s weight is masked (by :func:`magnitude` or :func:`restore`)."""
    return type(module) in _MASKED_CLASSES.values()


def _rename_parameter(module: Module, old: str, new: str, param: Parameter) -> None:
    """Replace parameter ``old`` by ``new`` in place, keeping the parameters' order."""
    params = module._parameters
    renamed = OrderedDict(
        (new if k == old else k, param if k == old else v) for k, v in params.items()
    )
    params.clear()
    params.update(renamed)


def _reparametrize(module: Module) -> None:
    weight = module._parameters["weight"]
    _rename_parameter(module, "weight", "weight_orig", weight)
    module.register_buffer("weight_mask", ones_like(weight, requires_grad=False))
    module.__class__ = _masked_class(type(module))


def _targets(op: str, model: Module, modules: Iterable[Module] | None) -> list[tuple[str, Module]]:
    """The (name, module) pairs to prune: ``modules`` if given, else every Linear/Conv in
    ``model``, skipping weights shared with another module (a tied lm_head)."""
    named = list(model.named_modules())
    if modules is not None:
        names = {id(m): n for n, m in named}
        chosen = []
        for m in modules:
            if not isinstance(m, PRUNABLE):
                raise TypeError(
                    f"{op}: cannot prune {type(m).__name__} (supported: Linear, Conv1d, Conv2d)"
                )
            if id(m) not in names:
                raise ValueError(
                    f"{op}: a {type(m).__name__} passed in modules is not part of the model"
                )
            chosen.append((names[id(m)], m))
        return chosen
    owners: dict[int, int] = {}
    for _, m in named:
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    chosen = [
        (n, m) for n, m in named if isinstance(m, PRUNABLE) and owners.get(id(_trained(m)), 0) == 1
    ]
    if not chosen:
        raise ValueError(f"{op}: {type(model).__name__} has no Linear or Conv layer to prune")
    return chosen


def tensor_like(array: np.ndarray, t: Tensor) -> Tensor:
    """``array`` as a tensor with ``t``'s dtype and device."""
    return from_numpy(array).to(device=t.device, dtype=t.dtype)


def _trained(module: Module) -> Parameter:
    return module._parameters["weight_orig" if is_pruned(module) else "weight"]


def _prune_smallest(scores: np.ndarray, alive: np.ndarray, k: int) -> np.ndarray:
    """A keep-mask over ``scores`` (flat) that also drops the ``k`` smallest alive ones."""
    keep = alive.copy()
    if k:
        idx = np.flatnonzero(alive)
        order = np.argsort(scores[idx], kind="stable")
        keep[idx[order[:k]]] = False
    return keep


def magnitude(
    model: Module,
    amount: float | int,
    scope: str = "global",
    modules: Iterable[Module] | None = None,
) -> Module:
    """Mask the smallest-magnitude weights of every Linear and Conv layer of ``model`` (or
    of ``modules``), in place; returns ``model``.

    ``amount``: a float in [0, 1] is the fraction, an int the number, of the weights not
    yet pruned to prune now (torch.nn.utils.prune's meaning, so repeated calls compound).
    ``scope="global"`` ranks |w| across all layers at once (layers end up with different
    sparsities), ``"layer"`` prunes that amount in each layer. Weights shared between
    modules (GPT's lm_head tied to the token embedding) are skipped unless passed in
    ``modules``. Each layer gets ``weight_orig`` (its trained Parameter) and a
    ``weight_mask`` buffer, both in ``state_dict()``; see :func:`restore` to load them and
    :func:`remove` to bake the masks in.

    Shape: each mask has its weight's shape, 1.0 kept, 0.0 pruned.
    """
    op = "ember.prune.magnitude"
    check_amount(op, amount)
    if scope not in ("global", "layer"):
        raise ValueError(f"{op}: scope must be 'global' or 'layer', got {scope!r}")
    targets = [m for _, m in _targets(op, model, modules)]
    scores = [np.abs(_trained(m).detach().numpy()).ravel() for m in targets]
    alive = [
        (m.weight_mask.numpy().ravel() != 0) if is_pruned(m) else np.ones(s.size, bool)
        for m, s in zip(targets, scores)
    ]
    if scope == "layer":
        keeps = [
            _prune_smallest(s, a, count(op, amount, int(a.sum()), "unpruned weights"))
            for s, a in zip(scores, alive)
        ]
    else:
        all_alive = np.concatenate(alive)
        k = count(op, amount, int(all_alive.sum()), "unpruned weights")
        keep = _prune_smallest(np.concatenate(scores), all_alive, k)
        keeps = np.split(keep, np.cumsum([s.size for s in scores])[:-1])
    for m, keep in zip(targets, keeps):
        if not is_pruned(m):
            _reparametrize(m)
        mask = keep.reshape(m.weight_mask.shape).astype(np.float32)
        m.weight_mask = tensor_like(mask, m.weight_orig)
    return model


def remove(model: Module) -> Module:
    """Bake every mask of ``model`` into its weight, in place: ``weight`` is a plain
    Parameter again (the same object as ``weight_orig``, its masked entries now zero) and
    the masks are gone from ``state_dict()``. Returns ``model``.

    Shape: unchanged (unstructured zeros do not shrink tensors; see :func:`structured`)."""
    for m in model.modules():
        if not is_pruned(m):
            continue
        param = m._parameters["weight_orig"]
        with no_grad():
            param.mul_(m.weight_mask)
        del m._buffers["weight_mask"]
        m.__class__ = type(m).__mro__[1]
        _rename_parameter(m, "weight_orig", "weight", param)
    return model


def restore(model: Module, state_dict: Mapping[str, Tensor]) -> Module:
    """Load a state dict saved from a pruned model (``ember.save(model.state_dict(), f)``)
    into a fresh ``model`` of the same architecture: every layer whose
    ``<name>.weight_mask`` is in ``state_dict`` is reparametrized first, then
    ``load_state_dict`` (strict) loads weights and masks. Returns ``model``.

    Shape: the state's tensors must have the model's shapes (load_state_dict checks)."""
    for name, m in model.named_modules():
        key = f"{name}.weight_mask" if name else "weight_mask"
        if key in state_dict and not is_pruned(m):
            if not isinstance(m, PRUNABLE):
                raise TypeError(
                    f"ember.prune.restore: '{key}' is a mask for {type(m).__name__} "
                    f"'{name}', which is not a Linear or Conv layer"
                )
            _reparametrize(m)
    model.load_state_dict(state_dict)
    return model
