"""ember.nn.parallel: torch's ``torch.nn.parallel`` names (see DistributedDataParallel)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
