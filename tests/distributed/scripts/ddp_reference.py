"""The model, optimizer and data of the DDP equivalence test, shared by the MPI script
and the one-process reference."""

import numpy as np

import ember
from ember import nn

B, STEPS = 4, 20


def build():
    model = nn.Sequential(
        nn.Linear(7, 13), nn.Tanh(), nn.LayerNorm(13), nn.Linear(13, 9), nn.GELU(), nn.Linear(9, 5)
    ).double()
    return model, ember.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)


def batch(step, size):
    """Step ``step``'s rows of one fixed data order (size rows: the global batch)."""
    rng = np.random.default_rng([17, step])
    x = rng.standard_normal((size, 7))
    y = rng.integers(0, 5, size)
    return ember.from_numpy(x), ember.from_numpy(y)
