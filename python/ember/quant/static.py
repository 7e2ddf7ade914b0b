"""quantize_static: post-training static int8 quantization of nn.Conv2d and nn.Linear.

    qmodel = quantize_static(model, calibration_batches, observer="percentile")

1. fuse: Conv2d -> [BatchNorm2d] -> [ReLU] chains (and Linear -> ReLU) in nn.Sequential
   containers, plus the chains a model lists in its ``fusable_chains`` attribute (for
   models whose forward applies attribute modules back to back, e.g. DigitsCNN). The
   batch norm is folded into the conv's weights and bias, the ReLU into the int8 kernel's
   epilogue; both modules become nn.Identity.
2. calibrate: run the batches (eval mode, no grad) with an observer on the input of every
   layer to quantize, giving each a static uint8 (scale, zero_point).
3. swap: each layer becomes a QuantizedConv2d / static QuantizedLinear, and the change is
   recorded ("quant.static") so that ember.save / ember.load rebuild the same structure.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..models import transforms
from ..nn.activation import ReLU
from ..nn.batchnorm import BatchNorm2d
from ..nn.container import Sequential
from ..nn.conv import Conv2d
from ..nn.linear import Identity, Linear
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..ops.creation import from_numpy
from ..tensor import Tensor
from .conv import QuantizedConv2d
from .linear import QuantizedLinear
from .observers import OBSERVERS, Observer

_OP = "ember.quant.quantize_static"
_KIND = "quant.static"


def _targets(model: Module, modules: Sequence[str] | None) -> list[str]:
    """The names of the layers to quantize: every Conv2d / Linear, or the given ones."""
    found = dict(model.named_modules())
    if modules is None:
        names = [n for n, m in found.items() if n and isinstance(m, (Conv2d, Linear))]
    else:
        if isinstance(modules, str) or not isinstance(modules, Sequence):
            raise TypeError(f"{_OP}: modules must be a list of module names, got {modules!r}")
        names = list(modules)
        for n in names:
            if not n or n not in found:
                raise ValueError(f"{_OP}: the model has no submodule {n!r}")
            if not isinstance(found[n], (Conv2d, Linear)):
                raise TypeError(
                    f"{_OP}: cannot quantize {n!r}, a {type(found[n]).__name__}: static "
                    "quantization supports nn.Conv2d and nn.Linear"
                )
    for n in names:
        groups = getattr(found[n], "groups", 1)
        if groups != 1:
            raise TypeError(
                f"{_OP}: cannot quantize {n!r}: a grouped Conv2d (groups={groups}); the int8 "
                "convolution supports groups=1 only (leave it out with modules=[...])"
            )
    if not names:
        raise ValueError(f"{_OP}: the model has no nn.Conv2d or nn.Linear to quantize")
    return names


def _sequential_chains(model: Module) -> list[list[str]]:
    """[conv, bn?, relu?] / [linear, relu] runs of consecutive children of Sequentials."""
    chains = []
    for prefix, seq in model.named_modules():
        if not isinstance(seq, Sequential):
            continue
        kids = [(f"{prefix}.{n}" if prefix else n, m) for n, m in seq.named_children()]
        for i, (name, m) in enumerate(kids):
            follow = (BatchNorm2d, ReLU) if isinstance(m, Conv2d) else (ReLU,)
            if not isinstance(m, (Conv2d, Linear)):
                continue
            chain = [name]
            for kind in follow:
                j = i + len(chain)
                if j < len(kids) and isinstance(kids[j][1], kind):
                    chain.append(kids[j][0])
            if len(chain) > 1:
                chains.append(chain)
    return chains


def _declared_chains(model: Module) -> list[list[str]]:
    """The model's ``fusable_chains``, checked: (conv, bn), (conv, bn, relu), (conv, relu)
    or (linear, relu) module names."""
    chains = [list(c) for c in getattr(model, "fusable_chains", ())]
    found = dict(model.named_modules())
    for c in chains:
        types = [type(found.get(n)).__name__ for n in c]
        ok = all(n in found for n in c) and (
            types in (["Conv2d", "BatchNorm2d"], ["Conv2d", "BatchNorm2d", "ReLU"])
            or types in (["Conv2d", "ReLU"], ["Linear", "ReLU"])
        )
        if not ok:
            raise ValueError(
                f"{_OP}: {type(model).__name__}.fusable_chains entry {c} is not a "
                f"conv -> [batch norm] -> [relu] chain of its modules (found {types})"
            )
    return chains


def _fold_batchnorm(conv: Conv2d, bn: BatchNorm2d) -> None:
    """conv(x) then bn (eval: running statistics) == the conv with scaled weights and a
    shifted bias; computed in float64."""
    inv = 1.0 / np.sqrt(bn.running_var.numpy().astype(np.float64) + bn.eps)
    gamma = inv if bn.weight is None else bn.weight.detach().numpy().astype(np.float64) * inv
    beta = 0.0 if bn.bias is None else bn.bias.detach().numpy().astype(np.float64)
    b = 0.0 if conv.bias is None else conv.bias.detach().numpy().astype(np.float64)
    w = conv.weight.detach().numpy().astype(np.float64)
    w = w * gamma.reshape(-1, *([1] * (w.ndim - 1)))
    bias = (b - bn.running_mean.numpy().astype(np.float64)) * gamma + beta
    conv.weight = Parameter(from_numpy(w.astype(np.float32)), False)
    conv.bias = Parameter(from_numpy(bias.astype(np.float32)), False)


def _fuse(model: Module, targets: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Fold the chains headed by a target; returns {target: fused activation} and the
    names of the modules that became Identity."""
    found = dict(model.named_modules())
    activation: dict[str, str | None] = dict.fromkeys(targets)
    identity: list[str] = []
    for head, *rest in _sequential_chains(model) + _declared_chains(model):
        if head not in activation or any(n in identity for n in rest):
            continue
        for n in rest:
            m = found[n]
            if isinstance(m, BatchNorm2d):
                if m.running_mean is None or m.running_var is None:
                    break  # batch statistics at inference: nothing to fold
                _fold_batchnorm(found[head], m)
            else:
                activation[head] = "relu"
            model.set_submodule(n, Identity())
            identity.append(n)
    return activation, identity


def _model_input(batch: Any) -> Tensor:
    if isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]  # an (inputs, targets) batch of a DataLoader
    if not isinstance(batch, Tensor):
        raise TypeError(
            f"{_OP}: each calibration batch must be the model's input Tensor or an (input, "
            f"...) tuple/list, got {type(batch).__name__}"
        )
    return batch


def _calibrate(
    model: Module, batches: list, targets: list[str], observer: str
) -> dict[str, tuple[float, int]]:
    """Run the batches with an observer on each target's input; (scale, zero) per target."""
    observers: dict[str, Observer] = {n: OBSERVERS[observer]() for n in targets}
    handles = []
    for n in targets:

        def hook(module: Module, args: tuple, obs: Observer = observers[n]) -> None:
            obs.observe(args[0])

        handles.append(model.get_submodule(n).register_forward_pre_hook(hook))
    try:
        with no_grad():
            for batch in batches:
                model(_model_input(batch))
    finally:
        for h in handles:
            h.remove()
    qparams = {}
    for n, obs in observers.items():
        try:
            qparams[n] = obs.qparams()
        except ValueError:
            raise ValueError(
                f"{_OP}: {n!r} saw no input during calibration (is it used by forward?)"
            ) from None
    return qparams


def quantize_static(
    model: Module,
    calibration_batches: Iterable[Any],
    *,
    observer: str = "minmax",
    modules: Sequence[str] | None = None,
    inplace: bool = False,
) -> Module:
    """Statically quantize ``model``'s nn.Conv2d (groups 1) and nn.Linear layers to int8
    (per-output-channel weights, per-tensor uint8 inputs calibrated on
    ``calibration_batches``), fusing batch norms and ReLUs into them (module doc).

    ``calibration_batches``: an iterable of model inputs (a Tensor, or an (input, target)
    tuple as a DataLoader yields); a few hundred representative samples are enough.
    ``observer``: "minmax" or "percentile" (99.99th, clips outliers). ``modules``: the
    names of the layers to quantize (default: every Conv2d and Linear). Returns the
    quantized model in eval mode (a copy unless ``inplace``).

    Shape: the model's own (inputs and outputs stay float32).
    """
    if not isinstance(model, Module):
        raise TypeError(f"{_OP}: expected an ember.nn.Module, got {type(model).__name__}")
    if observer not in OBSERVERS:
        raise ValueError(f"{_OP}: observer must be one of {sorted(OBSERVERS)}, got {observer!r}")
    if isinstance(calibration_batches, Tensor) or not isinstance(calibration_batches, Iterable):
        raise TypeError(
            f"{_OP}: calibration_batches must be an iterable of batches (a list, a "
            f"DataLoader), got {type(calibration_batches).__name__}"
        )
    batches = list(calibration_batches)
    if not batches:
        raise ValueError(f"{_OP}: no calibration batches; static quantization needs some")
    targets = _targets(model, modules)
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    activation, identity = _fuse(model, targets)
    qparams = _calibrate(model, batches, targets, observer)
    entries = []
    for n in targets:
        fp = model.get_submodule(n)
        if isinstance(fp, Conv2d):
            q = QuantizedConv2d.from_float(fp, qparams[n], activation=activation[n])
        else:
            q = QuantizedLinear.from_float(fp, activation=activation[n], act_qparams=qparams[n])
        model.set_submodule(n, q)
        entries.append(
            {
                "name": n,
                "type": type(fp).__name__,
                "bias": fp.bias is not None,
                "activation": activation[n],
            }
        )
    transforms.record(model, _KIND, modules=entries, identity=identity)
    return model.eval()


def _replay(model: Module, record: dict) -> None:
    """The structure quantize_static left: Identity for the fused modules, empty
    quantized shells (shapes from the float layers they replace) for the others."""
    for n in record["identity"]:
        model.set_submodule(n, Identity())
    for e in record["modules"]:
        fp, bias, act = model.get_submodule(e["name"]), bool(e["bias"]), e["activation"]
        if e["type"] == "Conv2d" and isinstance(fp, Conv2d):
            shell: Module = QuantizedConv2d(
                fp.in_channels,
                fp.out_channels,
                fp.kernel_size,
                fp.stride,
                fp.padding,
                fp.dilation,
                bias,
                activation=act,
            )
        elif e["type"] == "Linear" and isinstance(fp, Linear):
            shell = QuantizedLinear(
                fp.in_features, fp.out_features, bias, activation=act, static=True
            )
        else:
            raise TypeError(f"{e['name']!r} is a {type(fp).__name__}, recorded as {e['type']}")
        model.set_submodule(e["name"], shell)


transforms.register(_KIND, _replay)
