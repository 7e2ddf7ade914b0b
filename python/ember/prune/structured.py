"""Structured pruning: remove whole MLP neurons / output channels by L2 norm and shrink
both the layer that produces them and the one that consumes them, so the model really
has fewer parameters and does less work (unlike masks, which only write zeros).

Supported producer -> consumer pairs (found anywhere in the model):
- ember.models.GPT's MLP blocks: c_fc's rows (and bias) and c_proj's columns;
- nn.Sequential chains Linear -> elementwise activation / Dropout -> Linear: the first
  Linear's rows and the next one's input columns;
- nn.Sequential chains Conv -> [BatchNorm] -> activation / pooling -> Conv (same
  dimensionality, groups=1): output channels, the BatchNorm's channels and the next
  conv's input channels.
The last layer of a chain keeps its outputs: they are the model's interface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd.grad_mode import no_grad
from ..models.gpt import MLP
from ..nn.activation import GELU, GLU, ReLU, Sigmoid, SiLU, Tanh, _Elementwise
from ..nn.batchnorm import _BatchNorm
from ..nn.container import Sequential
from ..nn.conv import _ConvNd
from ..nn.dropout import Dropout
from ..nn.linear import Identity, Linear
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from ._amount import check_amount, count
from .magnitude import is_pruned, tensor_like

_OP = "ember.prune.structured"
# Layers that act on each channel / neuron on its own: a removed one stays removed.
_PER_CHANNEL = (ReLU, GELU, Tanh, Sigmoid, SiLU, _Elementwise, Dropout, Identity)
_CONV_PER_CHANNEL = (MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d)


@dataclass
class _Pair:
    """Neurons / channels that ``producer`` outputs (normalized by ``norm``) and
    ``consumer`` reads."""

    name: str
    producer: Module
    consumer: Module
    norm: _BatchNorm | None = None


def _is_chain_link(producer: Module, m: Module) -> bool:
    if isinstance(m, GLU):  # halves its input: not per channel
        return False
    return isinstance(m, _PER_CHANNEL) or (
        isinstance(producer, _ConvNd) and isinstance(m, _CONV_PER_CHANNEL)
    )


def _consumes(producer: Module, m: Module) -> bool:
    if isinstance(producer, Linear):
        return isinstance(m, Linear)
    return type(m) is type(producer) and m.groups == 1


def _sequential_pairs(prefix: str, seq: Sequential) -> list[_Pair]:
    layers = list(seq.named_children())
    pairs = []
    for i, (name, producer) in enumerate(layers):
        if not (
            isinstance(producer, Linear) or (isinstance(producer, _ConvNd) and producer.groups == 1)
        ):
            continue
        norm, j = None, i + 1
        if (
            isinstance(producer, _ConvNd)
            and j < len(layers)
            and isinstance(layers[j][1], _BatchNorm)
        ):
            norm, j = layers[j][1], j + 1
        while j < len(layers) and _is_chain_link(producer, layers[j][1]):
            j += 1
        if j < len(layers) and _consumes(producer, layers[j][1]):
            pairs.append(_Pair(f"{prefix}{name}", producer, layers[j][1], norm))
    return pairs


def _find_pairs(model: Module) -> list[_Pair]:
    pairs = []
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(m, MLP):
            pairs.append(_Pair(f"{prefix}c_fc", m.c_fc, m.c_proj))
        elif isinstance(m, Sequential):
            pairs += _sequential_pairs(prefix, m)
    if not pairs:
        raise TypeError(
            f"{_OP}: found nothing to shrink in {type(model).__name__}: supported are "
            "ember.models.GPT MLP blocks and nn.Sequential chains Linear -> activation -> "
            "Linear and Conv -> [BatchNorm] -> activation -> Conv"
        )
    for p in pairs:
        for layer in (p.producer, p.consumer):
            if is_pruned(layer):
                raise ValueError(
                    f"{_OP}: '{p.name}' has a magnitude mask; call ember.prune.remove(model) first"
                )
    return pairs


def _array(t) -> np.ndarray:
    return t.detach().numpy()


def _scores(pair: _Pair, dim: int) -> np.ndarray:
    """The L2 norm of each neuron's weights: the producer's rows (dim=0) or the
    consumer's input columns (dim=1)."""
    w = _array(pair.producer.weight if dim == 0 else pair.consumer.weight)
    w = np.moveaxis(w, dim, 0)
    return np.sqrt((w.reshape(w.shape[0], -1).astype(np.float64) ** 2).sum(axis=1))


def _take(module: Module, name: str, keep: np.ndarray, axis: int) -> None:
    """Replace ``module.name`` by its slices ``keep`` along ``axis`` (a new Parameter, or
    a buffer)."""
    t = getattr(module, name)
    if t is None:
        return
    data = tensor_like(np.ascontiguousarray(np.take(_array(t), keep, axis=axis)), t)
    setattr(module, name, Parameter(data, t.requires_grad) if isinstance(t, Parameter) else data)


def _shrink(pair: _Pair, keep: np.ndarray) -> None:
    p, c, n = pair.producer, pair.consumer, pair.norm
    _take(p, "weight", keep, 0)
    _take(p, "bias", keep, 0)
    _take(c, "weight", keep, 1)
    if isinstance(p, Linear):
        p.out_features, c.in_features = len(keep), len(keep)
    else:
        p.out_channels, c.in_channels = len(keep), len(keep)
    if n is not None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            _take(n, name, keep, 0)
        n.num_features = len(keep)


def structured(model: Module, amount: float | int, dim: int = 0) -> Module:
    """Remove the ``amount`` lowest-L2-norm neurons / output channels of every supported
    producer -> consumer pair in ``model`` (see the module docstring), shrinking both
    layers in place; returns ``model``.

    ``amount``: a float in [0, 1] is the fraction, an int the number, of each pair's
    neurons to remove; at least one must stay. ``dim`` picks the weights that rank them:
    0 the producer's output rows / filters (torch's ln_structured dim=0), 1 the
    consumer's input columns. The pruned layers get new, smaller Parameters: build the
    optimizer after pruning. A GPT shrunk this way no longer matches its GPTConfig, so
    save its ``state_dict()`` rather than a model folder.

    Shape: a pair with H neurons keeps H - round(amount * H): producer weight (H, ...) ->
    (H', ...), consumer weight (O, H, ...) -> (O, H', ...).
    """
    check_amount(_OP, amount)
    if dim not in (0, 1):
        raise ValueError(
            f"{_OP}: dim must be 0 (rank by the producer's rows) or 1 (by the consumer's "
            f"columns), got {dim!r}"
        )
    pairs = _find_pairs(model)
    plans = []
    for pair in pairs:
        scores = _scores(pair, dim)
        k = count(_OP, amount, len(scores), f"neurons of '{pair.name}'")
        if k >= len(scores):
            raise ValueError(
                f"{_OP}: amount={amount} would remove all {len(scores)} neurons of '{pair.name}'"
            )
        drop = np.argsort(scores, kind="stable")[:k]
        plans.append((pair, np.setdiff1d(np.arange(len(scores)), drop)))
    with no_grad():  # check every pair first, then change the model
        for pair, keep in plans:
            _shrink(pair, keep)
    return model
