"""Pruning: make a trained model sparser (:func:`magnitude` masks, :func:`remove` bakes
them in) or really smaller (:func:`structured` removes neurons and channels).

>>> ember.prune.magnitude(model, 0.5)            # half the Linear/Conv weights masked
>>> ... fine-tune: masked weights stay zero ...
>>> ember.prune.remove(model)                    # plain weights with zeros again
>>> ember.prune.structured(gpt, 0.5)             # half of each MLP's neurons removed
>>> ember.prune.structured(gpt, 1, target="heads")   # one attention head per layer
>>> ember.save(gpt, "runs/gpt-pruned")           # recorded: ember.load rebuilds it

2:4 semi-structured sparsity (a compressed format and its kernel) is not implemented.
"""

from .magnitude import is_pruned, magnitude, remove, restore
from .structured import structured

__all__ = ["is_pruned", "magnitude", "remove", "restore", "structured"]
