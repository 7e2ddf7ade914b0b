"""Samplers: which indices a DataLoader fetches, in what order (PyTorch's names).

Shuffling is seeded and resumable: a RandomSampler draws one base seed when it is made
(from ``generator``: an ember.Generator, by default ember's global one after
``ember.manual_seed``; a numpy Generator; or an int), and epoch ``e`` uses the
permutation ``numpy.random.default_rng([base_seed, e])``. So the order depends only on
(seed, epoch), and ``state_dict()`` (base seed + epoch) restores it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np

from .dataset import _seed_from


class Sampler:
    """Base class: ``__iter__`` yields indices (or lists of indices for batch samplers)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next ``__iter__`` yields (no-op here)."""


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def order(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)


class RandomSampler(Sampler):
    """A fresh seeded permutation per epoch (``replacement=True``: ``num_samples``
    uniform draws with replacement).

    ``set_epoch(e)`` selects epoch e's order; the DataLoader does this for you.
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = bool(replacement)
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(
                f"ember.data.RandomSampler: num_samples should be a positive integer, got "
                f"{num_samples!r}"
            )
        self._num_samples = num_samples
        self.base_seed = _seed_from(generator, "RandomSampler")
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """This epoch's indices as an int64 array."""
        n = len(self.data_source)
        rng = np.random.default_rng([self.base_seed, self.epoch])
        if self.replacement:
            return rng.integers(0, n, self.num_samples, dtype=np.int64)
        reps = -(-self.num_samples // n) if n else 0
        perm = np.concatenate([rng.permutation(n) for _ in range(reps)]) if reps else []
        return np.asarray(perm, dtype=np.int64)[: self.num_samples]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def state_dict(self) -> dict[str, int]:
        return {"base_seed": self.base_seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.base_seed = int(state["base_seed"])
        self.epoch = int(state["epoch"])


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"ember.data.BatchSampler: batch_size should be a positive integer, got "
                f"{batch_size!r}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.sampler.order() if hasattr(self.sampler, "order") else None
        if order is not None:
            n = len(order) // self.batch_size * self.batch_size if self.drop_last else len(order)
            for i in range(0, n, self.batch_size):
                yield order[i : i + self.batch_size].tolist()
            return
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(int(idx))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
