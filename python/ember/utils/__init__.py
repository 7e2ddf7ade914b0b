"""ember.utils: torch's ``torch.utils`` spelling. ``ember.utils.data`` IS ``ember.data``
(the same module object), so ``from ember.utils.data import DataLoader``,
``import ember.utils.data`` and ``from ember.utils.data.distributed import
DistributedSampler`` work as in torch."""

import sys

from .. import data

sys.modules[__name__ + ".data"] = data  # `import ember.utils.data` finds the alias
sys.modules[__name__ + ".data.distributed"] = data.distributed

__all__ = ["data"]
