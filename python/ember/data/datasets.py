"""Data sets bundled with ember (no network needed): tinyshakespeare as a character
language-modelling data set, and scikit-learn's handwritten digits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..ops.creation import from_numpy
from ..tensor import Tensor
from .dataset import Batch, Dataset, _as_index_array, _seed_from

_FILES = Path(__file__).parent / "files"


def load_tinyshakespeare() -> str:
    """Return the tinyshakespeare text (about 1.1 MB of public-domain Shakespeare)."""
    return (_FILES / "tinyshakespeare.txt").read_text(encoding="utf-8")


class CharVocab:
    """A character vocabulary: ``stoi`` (char -> id), ``itos`` (id -> char)."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.itos: list[str] = list(chars)
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(
                f"ember.data: character {e.args[0]!r} is not in the vocabulary"
            ) from None

    def decode(self, ids: Any) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))


class RandomWindows:
    """nanoGPT's ``get_batch``: each call returns (x, y) for ``batch_size`` windows at
    uniform random offsets, y shifted by one character. Seeded, and resumable with
    ``state_dict`` / ``load_state_dict`` (the numpy generator's state, JSON-safe).

    Shape: x, y: (batch_size, block_size) int64.
    """

    def __init__(self, dataset: CharDataset, batch_size: int, generator: Any = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"ember.data: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.rng = np.random.default_rng(_seed_from(generator, "CharDataset.batches"))

    def __call__(self) -> tuple[Tensor, Tensor]:
        ix = self.rng.integers(0, len(self.dataset), self.batch_size)
        return tuple(self.dataset.__getitems__(ix))

    def __iter__(self) -> RandomWindows:
        return self

    def __next__(self) -> tuple[Tensor, Tensor]:
        return self()

    def state_dict(self) -> dict[str, Any]:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["bit_generator"]


class CharDataset(Dataset):
    """Every window of ``block_size + 1`` characters of a text, as (x, y) with y = x
    shifted by one (next-character targets).

    Shape: a sample is (x, y), each (block_size,) int64; ``__getitems__`` gathers a
    whole batch (N, block_size) in one vectorized fetch.
    """

    def __init__(self, text: str | np.ndarray, block_size: int, vocab: CharVocab | None = None):
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"ember.data.CharDataset: block_size must be > 0, got {block_size!r}")
        if isinstance(text, str):
            self.vocab = vocab or CharVocab.from_text(text)
            data = np.asarray(self.vocab.encode(text), dtype=np.int64)
        else:
            if vocab is None:
                raise ValueError("ember.data.CharDataset: encoded data needs a vocab")
            self.vocab = vocab
            data = np.asarray(text, dtype=np.int64)
        if len(data) <= block_size:
            raise ValueError(
                f"ember.data.CharDataset: the text has {len(data)} characters, fewer than "
                f"block_size + 1 = {block_size + 1}"
            )
        self.data = data
        self.block_size = block_size
        self._windows = np.lib.stride_tricks.sliding_window_view(data, block_size + 1)

    @property
    def stoi(self) -> dict[str, int]:
        return self.vocab.stoi

    @property
    def itos(self) -> list[str]:
        return self.vocab.itos

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(text)

    def decode(self, ids: Any) -> str:
        return self.vocab.decode(ids)

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int] | np.ndarray) -> Batch:
        idx = _as_index_array(indices)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"ember.data.CharDataset: index out of range for {n} windows")
        w = self._windows[idx]  # (N, block_size + 1), one gather
        return Batch(
            (
                from_numpy(np.ascontiguousarray(w[:, :-1])),
                from_numpy(np.ascontiguousarray(w[:, 1:])),
            )
        )

    def batches(self, batch_size: int, generator: Any = None) -> RandomWindows:
        """A seeded random-window batch sampler (nanoGPT's get_batch): call it, or
        iterate it, for the next (x, y)."""
        return RandomWindows(self, batch_size, generator)


def tinyshakespeare(
    split: str = "train", block_size: int = 64, val_fraction: float = 0.1
) -> CharDataset:
    """tinyshakespeare as a :class:`CharDataset`: the first ``1 - val_fraction`` of the
    text is "train", the rest "val" (nanoGPT's character split); the vocabulary (65
    characters) is built from the whole text, so both splits share it."""
    if split not in ("train", "val"):
        raise ValueError(
            f"ember.data.datasets.tinyshakespeare: split must be 'train' or 'val', got {split!r}"
        )
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            "ember.data.datasets.tinyshakespeare: val_fraction must be in (0, 1), got "
            f"{val_fraction}"
        )
    text = load_tinyshakespeare()
    vocab = CharVocab.from_text(text)
    data = np.asarray(vocab.encode(text), dtype=np.int64)
    cut = int(len(data) * (1.0 - val_fraction))
    part = data[:cut] if split == "train" else data[cut:]
    return CharDataset(part, block_size, vocab)


class Digits(NamedTuple):
    """Train/test splits of the digits: x (N, 1, 8, 8) float32, y (N,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits(test_size: float = 0.2, seed: int = 0, normalize: bool = True) -> Digits:
    """scikit-learn's handwritten digits (1797 8x8 images, 10 classes), split
    stratified into train and test (``test_size`` of the images, shuffled by ``seed``).
    Pixels are scaled to [0, 1], then standardized with the train mean/std when
    ``normalize``.

    Shape: x_* (N, 1, 8, 8) float32, y_* (N,) int64.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(
            "ember.data.datasets.load_digits needs scikit-learn: pip install 'ember[examples]'"
        ) from None
    digits = _sk_load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    if normalize:
        mean, std = x_train.mean(), x_train.std()
        x_train = ((x_train - mean) / std).astype(np.float32)
        x_test = ((x_test - mean) / std).astype(np.float32)
    return Digits(
        *(from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test))
    )
