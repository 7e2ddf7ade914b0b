"""ember.utils: torch's ``torch.utils`` spelling. ``ember.utils.data`` IS ``ember.data``
(the same module object), so ``from ember.utils.data import DataLoader`` and
``import ember.utils.data`` work as in torch."""

import sys

from .. import data

sys.modules[__name__ + ".data"] = data  # `import ember.utils.data` finds the alias

__all__ = ["data"]
