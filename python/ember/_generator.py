"""The state of ember's random stream: seed + counter of the Philox generator
(csrc/cpu/random/random.cpp). Random ops draw counters [offset, offset + n) and advance
the offset, so a sequence of calls after ``manual_seed(s)`` always gives the same numbers."""

from __future__ import annotations

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


default_generator = Generator()
