"""Next-token sampling shared by the language models' ``generate``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..ops.creation import tensor
from ..random import Generator, rand
from ..tensor import Tensor


def sample_next(
    logits: np.ndarray, temperature: float, top_k: int | None, generator: Generator | None
) -> np.ndarray:
    """One token id per row of ``logits`` (B, V): greedy when ``temperature == 0``, else
    softmax(logits / temperature) cut to the ``top_k`` largest, sampled by inverse CDF on
    ember's Philox stream (reproducible under ``ember.manual_seed`` or ``generator``).

    Shape: (B, V) float -> (B,) int64.
    """
    if temperature == 0.0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None:
        k = min(int(top_k), logits.shape[-1])
        kth = np.sort(logits, axis=-1)[:, -k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    cdf = np.cumsum(probs, axis=-1)
    u = np.asarray(rand(logits.shape[0], dtype=D.float64, generator=generator))
    choice = (cdf < (u * cdf[:, -1])[:, None]).sum(-1)
    return np.minimum(choice, logits.shape[-1] - 1)


def check_generate_args(op: str, max_new_tokens: int, temperature: float, top_k: int | None):
    """ValueError naming ``op`` for arguments generate cannot use."""
    if max_new_tokens < 0:
        raise ValueError(f"{op}: max_new_tokens must be >= 0")
    if temperature < 0:
        raise ValueError(f"{op}: temperature must be >= 0")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"{op}: top_k must be positive, got {top_k}")


def generate_tokens(
    model: Any, toks: np.ndarray, max_new_tokens: int, stream: Callable[[], Iterator[np.ndarray]]
) -> Tensor:
    """``toks`` extended by ``max_new_tokens`` tokens from ``stream()`` (one (B,) array per
    ``next``), run in eval mode without gradients; the model's mode is restored after.

    Shape: toks (B, T) int64 -> (B, T + max_new_tokens) int64.
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            steps = stream()
            new = [next(steps) for _ in range(max_new_tokens)]
    finally:
        model.train(was_training)
    return tensor(np.concatenate([toks, *(t[:, None] for t in new)], axis=1))
