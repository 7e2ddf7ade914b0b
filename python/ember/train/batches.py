"""Training batches: a resumable stream over the training data, and the two batch
helpers the loop and the evaluation share (move to a device, count samples)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


class DataExhausted(Exception):
    """The training data ran out (all epochs done)."""


class BatchStream:
    """Training batches from a DataLoader / iterable (epoch by epoch, up to ``epochs``
    passes) or a callable (one batch per call), with a resumable position."""

    def __init__(self, data: Any, epochs: int | None) -> None:
        self.data = data
        self.epochs = epochs
        self.is_iterable = hasattr(data, "__iter__")
        if not self.is_iterable and not callable(data):
            raise TypeError(
                "ember.train.Trainer: train_data must be a DataLoader, an iterable of batches "
                f"or a callable returning the next batch, got {type(data).__name__}"
            )
        self.epoch = 0
        self.pos = 0
        self._it: Any = None
        self._skip = 0

    def next(self) -> Any:
        """The next batch; raises :class:`DataExhausted` after the last epoch."""
        if not self.is_iterable:
            self.pos += 1
            return self.data()
        empty_epochs = 0
        while True:
            if self.epochs is not None and self.epoch >= self.epochs:
                raise DataExhausted
            if self._it is None:
                self._it = iter(self.data)
                for _ in range(self._skip):  # resume for iterables without state_dict
                    next(self._it)
                self._skip = 0
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                if self.pos == 0:
                    empty_epochs += 1
                    if empty_epochs > 1 or self.epochs is None:
                        raise DataExhausted from None
                self.epoch += 1
                self.pos = 0
                continue
            self.pos += 1
            return batch

    def state_dict(self) -> dict[str, Any]:
        """The position: epoch, batches into it, and the data's own state when it has one."""
        state: dict[str, Any] = {"epoch": self.epoch, "pos": self.pos}
        if hasattr(self.data, "state_dict"):
            state["data"] = self.data.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go back to a position from :meth:`state_dict`."""
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._it = None
        if "data" in state and hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state["data"])
            self._skip = 0
        else:
            self._skip = self.pos if self.is_iterable else 0

    def close(self) -> None:
        """Drop the current iterator (a DataLoader epoch counts as abandoned)."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        self._it = None

    def park(self) -> None:
        """Release the iterator (and a prefetch thread) but keep the exact position, so
        a later fit() continues where this one stopped."""
        if self._it is not None:
            state = self.state_dict()
            self.close()
            self.load_state_dict(state)


def _first_tensor(batch: Any) -> Any:
    if isinstance(batch, (Tensor, np.ndarray)):
        return batch
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for b in batch:
            t = _first_tensor(b)
            if t is not None:
                return t
    return None


def batch_size(batch: Any) -> int:
    """The first dimension of the batch's first tensor (1 when it has none)."""
    t = _first_tensor(batch)
    return int(t.shape[0]) if t is not None and len(t.shape) else 1


def move_batch(batch: Any, device: Any) -> Any:
    """The batch with every tensor (in nested tuples, lists and dicts) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_batch(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_batch(b, device) for b in batch)
    return batch
