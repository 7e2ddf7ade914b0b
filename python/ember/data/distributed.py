"""DistributedSampler: each rank of a data-parallel job reads its own part of a data
set (torch's ``torch.utils.data.distributed.DistributedSampler``)."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np

from ..distributed import get_rank, get_world_size
from .sampler import Sampler


class DistributedSampler(Sampler):
    """Rank ``rank``'s share of ``dataset``: the epoch's order (a permutation seeded by
    ``(seed, epoch)``, the same on every rank, or 0..n-1 without shuffle) is padded by
    repeating its first indices until it divides evenly (``drop_last``: cut to a
    multiple of ``num_replicas`` instead), and rank r takes every
    ``num_replicas``-th index from position r. So the shards are disjoint (up to the
    padding) and together cover the data set; each has ``len(self)`` indices.

    ``set_epoch(e)`` before each epoch reshuffles (the DataLoader calls it);
    ``num_replicas`` and ``rank`` default to the process group's world size and rank.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        name = "ember.data.DistributedSampler"
        num_replicas = get_world_size() if num_replicas is None else num_replicas
        rank = get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"{name}: num_replicas must be a positive int, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"{name}: invalid rank {rank!r}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next ``__iter__`` yields."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            full = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            full = np.arange(n)
        if self.total_size > n:  # pad with the order's first indices (again if need be)
            full = np.resize(full, self.total_size)
        full = full[: self.total_size]
        return np.asarray(full[self.rank :: self.num_replicas], dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
