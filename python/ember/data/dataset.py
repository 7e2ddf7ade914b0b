"""Datasets: the map-style ``Dataset`` protocol, ``TensorDataset``, ``Subset`` and
``random_split`` (PyTorch's ``torch.utils.data`` names and semantics).

Batch fetch protocol: a dataset may define ``__getitems__(indices)``. When it returns a
:class:`Batch` (a tuple of already-stacked columns), the loader uses it as the batch as
is: one vectorized gather instead of a Python loop over samples. ``TensorDataset`` and
the character data sets do this.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..ops.creation import from_numpy, tensor
from ..ops.index import index_select
from ..random import Generator, default_generator
from ..tensor import Tensor


class Dataset:
    """A map-style data set: ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset:
    """A stream of samples: define ``__iter__``. The loader batches it in order
    (``shuffle`` is not available for streams)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} has no __iter__")


class Batch(tuple):
    """A tuple of already-batched columns, returned by ``__getitems__``: the default
    collate passes it through unchanged."""

    def samples(self) -> list[tuple]:
        """The batch as a list of per-sample tuples (for a custom collate_fn)."""
        n = len(self[0]) if len(self) else 0
        return [tuple(col[i] for col in self) for i in range(n)]


def _as_index_array(indices: Any) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1:
        raise ValueError(f"ember.data: batch indices must be 1-D, got shape {idx.shape}")
    return idx


def _take(col: Tensor, idx: np.ndarray) -> Tensor:
    """Rows idx of col in one gather (numpy fancy indexing on CPU; index_select on CUDA)."""
    if col.is_cuda or col.dtype.name == "bfloat16":
        return index_select(col, 0, tensor(idx, device=col.device))
    return from_numpy(np.ascontiguousarray(np.asarray(col)[idx]))


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (numpy arrays are wrapped without copy).

    Shape: every tensor is (N, ...); a sample is a tuple of the (...) rows.
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("ember.data.TensorDataset: needs at least one tensor")
        cols = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = from_numpy(np.require(t, requirements="C"))
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"ember.data.TensorDataset: argument {i} is a {type(t).__name__}, not a "
                    "Tensor or numpy array"
                )
            if t.ndim == 0:
                raise ValueError(f"ember.data.TensorDataset: tensor {i} is 0-d (no rows)")
            cols.append(t.detach())
        n = cols[0].shape[0]
        for i, t in enumerate(cols):
            if t.shape[0] != n:
                raise ValueError(
                    "ember.data.TensorDataset: size mismatch between tensors: tensor 0 has "
                    f"{n} rows, tensor {i} has {t.shape[0]}"
                )
        self.tensors = tuple(cols)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = _as_index_array(indices)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"ember.data.TensorDataset: index out of range for {n} rows")
        idx = np.where(idx < 0, idx + n, idx)
        return Batch(_take(t, idx) for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: Sequence[int]) -> Any:
        mapped = [self.indices[int(i)] for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(mapped)
        return [self.dataset[i] for i in mapped]


class ConcatDataset(Dataset):
    """Several data sets one after the other."""

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ember.data.ConcatDataset: needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ember.data.ConcatDataset: index {index} out of range for {n}")
        d = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][index - start]


def _seed_from(generator: Any, op: str) -> int:
    """A 63-bit seed drawn from an ember.Generator (default: the global one), a numpy
    Generator, or given as an int. Drawing advances the generator like a random op."""
    if generator is None:
        generator = default_generator
    if isinstance(generator, (bool, np.bool_)):
        raise TypeError(f"ember.data.{op}: generator must be an ember/numpy Generator or int")
    if isinstance(generator, (int, np.integer)):
        return int(generator) % 2**63
    if isinstance(generator, Generator):
        seed, offset = generator._take(2)
        ss = np.random.SeedSequence([seed, offset])
        return int(ss.generate_state(1, np.uint64)[0]) % 2**63
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(0, 2**63))
    raise TypeError(
        f"ember.data.{op}: generator must be an ember.Generator, a numpy Generator or an int, "
        f"got {type(generator).__name__}"
    )


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: Any = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping Subsets of the given lengths
    (ints summing to len(dataset), or fractions summing to 1; the remainder of
    fractions is dealt round-robin, as in PyTorch). Seeded by ``generator`` (an
    ember.Generator, numpy Generator or int; default: ember's global generator)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"ember.data.random_split: fractions must be in [0, 1]: {lengths}")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if any(isinstance(x, float) for x in lengths):
        raise ValueError(
            f"ember.data.random_split: lengths must be ints or fractions summing to 1, got "
            f"{lengths}"
        )
    if any(x < 0 for x in lengths):
        raise ValueError(f"ember.data.random_split: negative length in {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"ember.data.random_split: sum of input lengths ({sum(lengths)}) does not equal the "
            f"length of the input dataset ({n})"
        )
    perm = np.random.default_rng(_seed_from(generator, "random_split")).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start : start + length].tolist()))
        start += length
    return out
