"""quantize_dynamic: int8 weights, dynamic per-row uint8 activations, for every nn.Linear."""

from __future__ import annotations

from collections.abc import Iterable

from ..autograd.grad_mode import no_grad
from ..models import transforms
from ..nn.module import Module
from ._swap import select_linears, swap, target
from .linear import QuantizedLinear

KIND = "quant.dynamic"
_HINT = "Conv2d goes through quantize_static; embeddings and norms stay float32"


def quantize_dynamic(
    model: Module,
    *,
    modules: Iterable[str] | None = None,
    include_head: bool = False,
    inplace: bool = False,
) -> Module:
    """A copy of ``model`` (``model`` itself when ``inplace``) in which every nn.Linear is a
    :class:`QuantizedLinear`: symmetric per-output-channel int8 weights, activations
    quantized per row to asymmetric uint8 at each call.

    Embeddings, norms and the output head (a Linear named lm_head / head / classifier, or
    one whose weight is tied to an embedding) stay float32 unless ``include_head``;
    ``modules`` (dotted names) picks the layers instead, each of which must be an
    nn.Linear (TypeError naming it otherwise). The swap is recorded, so ``ember.save`` /
    ``ember.load`` rebuild the quantized model.

    Shape: the model's own (the forward is unchanged)."""
    names = select_linears(model, modules, include_head, "ember.quant.quantize_dynamic", _HINT)
    out = target(model, inplace)
    with no_grad():
        swap(out, names, lambda _, linear: QuantizedLinear.from_float(linear))
    transforms.record(out, KIND, modules=names)
    return out


def _replay(model: Module, record: dict) -> None:
    """Swap the recorded layers for empty QuantizedLinear shells of the same shapes."""
    swap(
        model,
        record["modules"],
        lambda _, m: QuantizedLinear(m.in_features, m.out_features, bias=m.bias is not None),
    )


transforms.register(KIND, _replay)
