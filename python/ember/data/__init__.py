"""ember.data: data sets and loaders (PyTorch's ``torch.utils.data`` names).

>>> ds = TensorDataset(x, y)
>>> for xb, yb in DataLoader(ds, batch_size=64, shuffle=True):
...     ...
"""

from . import datasets
from .dataloader import DataLoader, default_collate
from .dataset import (
    Batch,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .distributed import DistributedSampler
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .workers import WorkerInfo, get_worker_info

__all__ = [
    "Batch",
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "WorkerInfo",
    "datasets",
    "default_collate",
    "get_worker_info",
    "random_split",
]
