"""Structured pruning: remove whole MLP neurons / output channels / attention heads by L2
norm and shrink both the layer that produces them and the one that consumes them, so
the model really has fewer parameters and does less work (unlike masks, which only
write zeros).

Neurons and channels (``target="neurons"``) of producer -> consumer pairs found
anywhere in the model:
- ember.models.GPT's MLP blocks: c_fc's rows (and bias) and c_proj's columns;
- a model's declared ``channel_chains`` (producer, BatchNorm or None, consumer names;
  ember.models.DigitsCNN has them);
- nn.Sequential chains Linear -> elementwise activation / Dropout -> Linear: the first
  Linear's rows and the next one's input columns;
- nn.Sequential chains Conv -> [BatchNorm] -> activation / pooling -> Conv (same
  dimensionality, groups=1): output channels, the BatchNorm's channels and the next
  conv's input channels.
The last layer of a chain keeps its outputs: they are the model's interface.

Attention heads (``target="heads"``): a head's q, k and v rows and its columns of the
output projection, in GPT's CausalSelfAttention (fused c_attn, c_proj) and Bert's
BertAttention (query/key/value, output.dense); each layer keeps its own head count.

Every call is recorded on the model (ember.models.transforms, kind "prune.structured",
the new sizes by layer), so ember.save writes a folder ember.load rebuilds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd.grad_mode import no_grad
from ..models import transforms
from ..models.bert import BertAttention
from ..models.gpt import MLP, CausalSelfAttention
from ..nn.activation import GELU, GLU, ReLU, Sigmoid, SiLU, Tanh, _Elementwise
from ..nn.batchnorm import _BatchNorm
from ..nn.container import Sequential
from ..nn.conv import _ConvNd
from ..nn.dropout import Dropout
from ..nn.linear import Identity, Linear
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from ..ops.creation import empty
from ._amount import check_amount, count
from .magnitude import is_pruned, tensor_like

_OP = "ember.prune.structured"
_KIND = "prune.structured"
TARGETS = ("neurons", "heads", "all")
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


def _declared_pairs(prefix: str, model: Module) -> list[_Pair]:
    """The pairs of a model's ``channel_chains`` (producer, norm or None, consumer)."""
    return [
        _Pair(
            f"{prefix}{p}",
            getattr(model, p),
            getattr(model, c),
            None if n is None else getattr(model, n),
        )
        for p, n, c in model.channel_chains
    ]


def _find_pairs(model: Module) -> list[_Pair]:
    pairs = []
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(m, MLP):
            pairs.append(_Pair(f"{prefix}c_fc", m.c_fc, m.c_proj))
        elif isinstance(m, Sequential):
            pairs += _sequential_pairs(prefix, m)
        elif hasattr(type(m), "channel_chains"):
            pairs += _declared_pairs(prefix, m)
    return pairs


@dataclass
class _Heads:
    """An attention module's heads: ``count_attr`` names its head count; each of
    ``projections`` (Linear, parts) holds ``parts`` blocks of heads x head_dim rows (q, k,
    v fused or apart); ``out`` reads heads x head_dim columns."""

    name: str
    module: Module
    count_attr: str
    projections: list[tuple[Linear, int]]
    out: Linear

    @property
    def count(self) -> int:
        return getattr(self.module, self.count_attr)

    @property
    def head_dim(self) -> int:
        return self.out.weight.shape[1] // self.count


def _find_heads(model: Module) -> list[_Heads]:
    out = []
    for name, m in model.named_modules():
        if isinstance(m, CausalSelfAttention):
            out.append(_Heads(name, m, "n_head", [(m.c_attn, 3)], m.c_proj))
        elif isinstance(m, BertAttention):
            qkv = [(m.self.query, 1), (m.self.key, 1), (m.self.value, 1)]
            out.append(_Heads(name, m, "heads", qkv, m.output.dense))
    return out


def _check_unmasked(name: str, *layers: Module) -> None:
    for layer in layers:
        if is_pruned(layer):
            raise ValueError(
                f"{_OP}: '{name}' has a magnitude mask; call ember.prune.remove(model) first"
            )


def _array(t) -> np.ndarray:
    return t.detach().numpy()


def _scores(pair: _Pair, dim: int) -> np.ndarray:
    """The L2 norm of each neuron's weights: the producer's rows (dim=0) or the
    consumer's input columns (dim=1)."""
    w = _array(pair.producer.weight if dim == 0 else pair.consumer.weight)
    w = np.moveaxis(w, dim, 0)
    return np.sqrt((w.reshape(w.shape[0], -1).astype(np.float64) ** 2).sum(axis=1))


def _take(module: Module, name: str, keep: np.ndarray | int, axis: int) -> None:
    """Replace ``module.name`` by its slices ``keep`` along ``axis`` (a new Parameter, or
    a buffer). An int ``keep`` only resizes that axis to it, uninitialized: replaying a
    record on a model whose weights come from a file."""
    t = getattr(module, name)
    if t is None:
        return
    if isinstance(keep, int):
        shape = list(t.shape)
        shape[axis] = keep
        data = empty(*shape, dtype=t.dtype, device=t.device)
    else:
        data = tensor_like(np.ascontiguousarray(np.take(_array(t), keep, axis=axis)), t)
    setattr(module, name, Parameter(data, t.requires_grad) if isinstance(t, Parameter) else data)


def _set_width(layer: Module, n: int, side: str) -> None:
    """Record ``layer``'s new number of outputs (side "out") or inputs ("in")."""
    setattr(layer, f"{side}_features" if isinstance(layer, Linear) else f"{side}_channels", n)


def _shrink(pair: _Pair, keep: np.ndarray | int) -> None:
    p, c, n = pair.producer, pair.consumer, pair.norm
    size = keep if isinstance(keep, int) else len(keep)
    _take(p, "weight", keep, 0)
    _take(p, "bias", keep, 0)
    _take(c, "weight", keep, 1)
    _set_width(p, size, "out")
    _set_width(c, size, "in")
    if n is not None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            _take(n, name, keep, 0)
        n.num_features = size


def _head_scores(heads: _Heads, dim: int) -> np.ndarray:
    """Each head's L2 norm: of its q, k and v rows (dim=0) or of its columns of the
    output projection (dim=1)."""
    h, d = heads.count, heads.head_dim
    if dim == 0:
        blocks = [_array(p.weight).reshape(parts, h, d, -1) for p, parts in heads.projections]
        w = np.concatenate([b.transpose(1, 0, 2, 3).reshape(h, -1) for b in blocks], axis=1)
    else:
        w = _array(heads.out.weight).reshape(-1, h, d).transpose(1, 0, 2).reshape(h, -1)
    return np.sqrt((w.astype(np.float64) ** 2).sum(axis=1))


def _shrink_heads(heads: _Heads, keep: np.ndarray | int) -> None:
    h, d = heads.count, heads.head_dim
    kept = np.arange(keep) if isinstance(keep, int) else keep
    cols = (kept[:, None] * d + np.arange(d)).reshape(-1)  # the kept heads' channels
    resize = isinstance(keep, int)
    for layer, parts in heads.projections:
        rows = np.concatenate([part * h * d + cols for part in range(parts)])
        _take(layer, "weight", len(rows) if resize else rows, 0)
        _take(layer, "bias", len(rows) if resize else rows, 0)
        layer.out_features = len(rows)
    _take(heads.out, "weight", len(cols) if resize else cols, 1)
    heads.out.in_features = len(cols)
    setattr(heads.module, heads.count_attr, len(kept))


def _keep(scores: np.ndarray, amount: float | int, what: str) -> np.ndarray:
    """The indices that stay once ``amount`` of the lowest ``scores`` are removed."""
    k = count(_OP, amount, len(scores), what)
    if k >= len(scores):
        raise ValueError(f"{_OP}: amount={amount} would remove all {len(scores)} {what}")
    drop = np.argsort(scores, kind="stable")[:k]
    return np.setdiff1d(np.arange(len(scores)), drop)


def structured(
    model: Module, amount: float | int, dim: int = 0, *, target: str = "neurons"
) -> Module:
    """Remove the ``amount`` lowest-L2-norm units of every supported place in ``model``
    (see the module docstring), shrinking the layers in place; returns ``model``.

    ``target``: "neurons" (MLP neurons and conv channels, the default), "heads"
    (attention heads) or "all" (both). ``amount``: a float in [0, 1] is the fraction, an
    int the number, of each pair's neurons / each layer's heads to remove; at least one
    must stay. ``dim`` picks the weights that rank them: 0 the producer's output rows /
    filters (torch's ln_structured dim=0; a head's q/k/v rows), 1 the consumer's input
    columns (a head's c_proj columns). The pruned layers get new, smaller Parameters:
    build the optimizer after pruning. The change is recorded on the model, so
    ``ember.save`` / ``ember.load`` give the pruned model back.

    Shape: a pair with H neurons keeps H - round(amount * H): producer weight (H, ...) ->
    (H', ...), consumer weight (O, H, ...) -> (O, H', ...); a GPT layer with h heads of
    size D keeps h' heads: c_attn weight (3 h D, C) -> (3 h' D, C), c_proj (C, h D) ->
    (C, h' D).
    """
    check_amount(_OP, amount)
    if dim not in (0, 1):
        raise ValueError(
            f"{_OP}: dim must be 0 (rank by the producer's rows) or 1 (by the consumer's "
            f"columns), got {dim!r}"
        )
    if target not in TARGETS:
        raise ValueError(f"{_OP}: target must be one of {', '.join(TARGETS)}, got {target!r}")
    pairs = _find_pairs(model) if target != "heads" else []
    heads = _find_heads(model) if target != "neurons" else []
    if not pairs and not heads:
        raise TypeError(
            f"{_OP}: found nothing to shrink in {type(model).__name__} "
            f"(target={target!r}): supported are ember.models.GPT MLP blocks and "
            "attention heads, models with channel_chains (DigitsCNN) and nn.Sequential "
            "chains Linear -> activation -> Linear and Conv -> [BatchNorm] -> activation "
            "-> Conv"
        )
    for p in pairs:
        _check_unmasked(p.name, p.producer, p.consumer)
    for a in heads:
        _check_unmasked(a.name, *(p for p, _ in a.projections), a.out)
    # Check every layer first, then change the model.
    pair_plans = [(p, _keep(_scores(p, dim), amount, f"neurons of '{p.name}'")) for p in pairs]
    head_plans = [(a, _keep(_head_scores(a, dim), amount, f"heads of '{a.name}'")) for a in heads]
    with no_grad():
        for pair, keep in pair_plans:
            _shrink(pair, keep)
        for a, keep in head_plans:
            _shrink_heads(a, keep)
    transforms.record(
        model,
        _KIND,
        neurons={p.name: len(keep) for p, keep in pair_plans},
        heads={a.name: len(keep) for a, keep in head_plans},
    )
    return model


def _checked_size(name: str, size: object, current: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= current:
        raise ValueError(f"'{name}' cannot shrink from {current} to {size!r}")
    return size


def _replay(model: Module, rec: dict) -> None:
    """Shrink ``model``'s layers to the sizes in ``rec`` (uninitialized: the weights
    come from the file)."""
    pairs = {p.name: p for p in _find_pairs(model)}
    heads = {a.name: a for a in _find_heads(model)}
    with no_grad():
        for name, size in dict(rec["neurons"]).items():
            pair = pairs[name]
            _shrink(pair, _checked_size(name, size, pair.producer.weight.shape[0]))
        for name, size in dict(rec["heads"]).items():
            _shrink_heads(heads[name], _checked_size(name, size, heads[name].count))


transforms.register(_KIND, _replay)
