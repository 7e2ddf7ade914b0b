"""The state of ember's random stream: seed + counter of the Philox generator
(csrc/cpu/random/random.cpp). Random ops draw counters [offset, offset + n) and advance
the offset, so a sequence of calls after ``manual_seed(s)`` always gives the same numbers."""

from __future__ import annotations

import threading

import numpy as np

_DEFAULT_SEED = 67280421310721  # PyTorch's default, so runs are reproducible by default


class Generator:
    """Seed + counter state for the Philox stream."""

    def __init__(self, seed: int = _DEFAULT_SEED):
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Generator:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"ember.manual_seed: seed must be an int, got {seed!r}")
        seed = int(seed)
        if not -(2**63) <= seed < 2**64:
            raise ValueError(f"ember.manual_seed: seed {seed} does not fit in 64 bits")
        self._seed = seed % 2**64
        self._offset = 0
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> tuple[int, int]:
        return (self._seed, self._offset)

    def set_state(self, state: tuple[int, int]) -> None:
        self._seed, self._offset = int(state[0]), int(state[1])

    def _take(self, n: int) -> tuple[int, int]:
        offset = self._offset
        self._offset = (self._offset + n) % 2**64
        return self._seed, offset


class _DefaultGenerator(Generator):
    """The global generator. A thread given its own stream by :func:`use_thread_stream`
    (a DataLoader worker thread: torch gives each worker process its own seeded
    generator) draws from that instead, so it does not disturb the main stream."""

    def _stream(self) -> Generator | None:
        return getattr(_thread, "generator", None)

    def manual_seed(self, seed: int) -> Generator:
        own = self._stream()
        return own.manual_seed(seed) if own is not None else super().manual_seed(seed)

    def initial_seed(self) -> int:
        own = self._stream()
        return own.initial_seed() if own is not None else super().initial_seed()

    def get_state(self) -> tuple[int, int]:
        own = self._stream()
        return own.get_state() if own is not None else super().get_state()

    def set_state(self, state: tuple[int, int]) -> None:
        own = self._stream()
        if own is not None:
            own.set_state(state)
        else:
            super().set_state(state)

    def _take(self, n: int) -> tuple[int, int]:
        own = self._stream()
        return own._take(n) if own is not None else super()._take(n)


_thread = threading.local()


def use_thread_stream(generator: Generator | None) -> None:
    """Make the calling thread's global random ops draw from ``generator`` (None: back
    to the shared global stream)."""
    _thread.generator = generator


default_generator = _DefaultGenerator()
