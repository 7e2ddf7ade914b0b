"""Pruning: make a trained model sparser (:func:`magnitude` masks, :func:`remove` bakes
them in) or really smaller (:func:`structured` removes neurons, channels and heads).

>>> ember.prune.magnitude(model, 0.5)            # half the Linear/Conv weights masked
>>> ... fine-tune: masked weights stay zero ...
>>> ember.prune.remove(model)                    # plain weights with zeros again
>>> ember.prune.structured(gpt, 0.5)             # half of each MLP's neurons removed
>>> ember.prune.structured(gpt, 1, target="heads")   # one attention head per layer
>>> ember.save(gpt, "runs/gpt-pruned")           # recorded: ember.load rebuilds it

2:4 semi-structured sparsity for inference (:func:`semi_structured`): every Linear keeps 2
of each 4 weights in a compressed form and runs a kernel doing half the work.

>>> ember.prune.semi_structured(model)           # Linear -> SemiStructuredLinear
"""

from .magnitude import is_pruned, magnitude, remove, restore
from .semi_structured import (
    SemiStructuredLinear,
    SemiStructuredReport,
    semi_structured,
    semi_structured_shell,
)
from .structured import structured

__all__ = [
    "SemiStructuredLinear",
    "SemiStructuredReport",
    "is_pruned",
    "magnitude",
    "remove",
    "restore",
    "semi_structured",
    "semi_structured_shell",
    "structured",
]
