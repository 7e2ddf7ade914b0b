"""SparseAdam: present so scripts get a clear message, not an AttributeError. PyTorch's
SparseAdam updates only the rows a sparse gradient touches and rejects dense gradients;
ember has no sparse gradients (``nn.Embedding(sparse=True)`` is refused), so no gradient
it can produce is one SparseAdam would accept, and the class cannot be constructed."""

from __future__ import annotations

from typing import Any

from .optimizer import ParamsT


class SparseAdam:
    """``torch.optim.SparseAdam`` needs sparse gradients, which ember does not have.

    Constructing it raises NotImplementedError naming the alternatives: with dense
    gradients, :class:`ember.optim.Adam` or :class:`ember.optim.AdamW` (which update every
    row, where SparseAdam's lazy update leaves untouched rows and their moments alone).

    Shape:
        not applicable (it never updates anything).
    """

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            "ember.optim.SparseAdam: SparseAdam updates from sparse gradients "
            "(nn.Embedding(sparse=True)), which ember does not have, and PyTorch's SparseAdam "
            "rejects dense gradients; use ember.optim.Adam or ember.optim.AdamW instead"
        )
