"""quantize_weights: weight-only Q8_0 / Q4_0 block quantization of nn.Linear layers."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from ..autograd.grad_mode import no_grad
from ..models import transforms
from ..nn.module import Module
from ..ops.qblock import BLOCK
from ._swap import select_linears, swap, target
from .block_linear import BlockQuantLinear, block_quantizable, check_scheme

KIND = "quant.weights"
_HINT = "embeddings and norms stay float32"


def quantize_weights(
    model: Module,
    scheme: str = "q8_0",
    *,
    modules: Iterable[str] | None = None,
    include_head: bool = False,
    inplace: bool = False,
) -> Module:
    """A copy of ``model`` (``model`` itself when ``inplace``) whose nn.Linear layers hold
    their weights as ggml ``scheme`` blocks ("q8_0": 8.5 bits a weight, "q4_0": 4.5) in a
    :class:`BlockQuantLinear`; activations stay float32 between layers.

    Layers are chosen as in :func:`quantize_dynamic` (heads stay float32 unless
    ``include_head``, or ``modules`` names them). A layer whose in_features is not a
    multiple of 32 cannot be blocked: it stays float32 with a warning naming it (a
    ValueError when it was listed in ``modules``). The swap is recorded for ember.save.

    Shape: the model's own."""
    where = "ember.quant.quantize_weights"
    check_scheme(scheme, where)
    names = select_linears(model, modules, include_head, where, _HINT)
    found = dict(model.named_modules())
    skipped = [n for n in names if not block_quantizable(found[n].in_features)]
    if skipped and modules is not None:
        raise ValueError(
            f"{where}: cannot block-quantize {skipped[0]!r}: in_features "
            f"{found[skipped[0]].in_features} is not a multiple of {BLOCK}"
        )
    if skipped:
        warnings.warn(
            f"{where}: kept float32 (in_features not a multiple of {BLOCK}): {', '.join(skipped)}",
            stacklevel=2,
        )
    names = [n for n in names if n not in skipped]
    out = target(model, inplace)
    with no_grad():
        swap(out, names, lambda _, linear: BlockQuantLinear.from_float(linear, scheme))
    transforms.record(out, KIND, scheme=scheme, modules=names)
    return out


def _replay(model: Module, record: dict) -> None:
    """Swap the recorded layers for empty BlockQuantLinear shells of the same shapes."""
    scheme = check_scheme(record["scheme"], "quant.weights")
    swap(
        model,
        record["modules"],
        lambda _, m: BlockQuantLinear(
            m.in_features, m.out_features, m.bias is not None, scheme=scheme
        ),
    )


transforms.register(KIND, _replay)
