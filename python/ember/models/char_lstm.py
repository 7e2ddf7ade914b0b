"""CharLSTM: a character-level language model (embedding -> multi-layer LSTM -> linear
over the vocabulary) with the same interface as :class:`~ember.models.gpt.GPT`
(``forward(idx, targets) -> (logits, loss)``, ``generate``), so the same recipe, Trainer
and ``ember sample`` serve both.

>>> model = CharLSTM(CharLSTMConfig(vocab_size=65, hidden_size=256))
>>> logits, loss = model(idx, targets)          # idx, targets: (B, T) int64
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..nn import functional as F
from ..nn import init
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.rnn import LSTM
from ..nn.sparse import Embedding
from ..ops.creation import tensor
from ..random import Generator
from ..tensor import Tensor
from ._config import MAX_LAYERS, MAX_SIZE, MAX_WIDTH, ModelConfig, bounded
from .sampling import check_generate_args, generate_tokens, sample_next


@dataclass
class CharLSTMConfig(ModelConfig):
    """The hyperparameters of :class:`CharLSTM`. ``block_size`` is the training context
    (generation is not limited by it: the LSTM state carries the past)."""

    vocab_size: int = bounded(65, 1, MAX_SIZE)
    embed_size: int = bounded(64, 1, MAX_WIDTH)
    hidden_size: int = bounded(256, 1, MAX_WIDTH)
    num_layers: int = bounded(2, 1, MAX_LAYERS)
    dropout: float = bounded(0.0, 0.0, 1.0, below=True)
    block_size: int = bounded(64, 1, MAX_SIZE)


class CharLSTM(Module):
    """Embedding -> LSTM (batch_first) -> Linear head; the forget-gate biases start at 1
    so the cells remember by default (trains faster on characters).

    Shape: idx (B, T) int64 -> logits (B, T, vocab_size), loss () when targets given.
    """

    def __init__(self, config: CharLSTMConfig):
        super().__init__()
        if not isinstance(config, CharLSTMConfig):
            raise TypeError(
                f"ember.models.CharLSTM: expected a CharLSTMConfig, got {type(config).__name__}"
            )
        config.validate()
        self.config = config
        h = config.hidden_size
        self.embed = Embedding(config.vocab_size, config.embed_size)
        init.normal_(self.embed.weight, 0.0, 0.1)
        self.lstm = LSTM(
            config.embed_size, h, config.num_layers, batch_first=True, dropout=config.dropout
        )
        self.head = Linear(h, config.vocab_size)
        with no_grad():
            for name, p in self.lstm.named_parameters():
                if name.startswith("bias_ih"):
                    p[h : 2 * h] = 1.0  # gate order i, f, g, o

    @staticmethod
    def state_shapes(config: CharLSTMConfig) -> dict[str, tuple[int, ...]]:
        """The names and shapes of ``CharLSTM(config).state_dict()``, computed without
        building anything: a model folder's weights are checked against them before
        allocating."""
        h, v = config.hidden_size, config.vocab_size
        out: dict[str, tuple[int, ...]] = {"embed.weight": (v, config.embed_size)}
        for i in range(config.num_layers):
            out[f"lstm.weight_ih_l{i}"] = (4 * h, config.embed_size if i == 0 else h)
            out[f"lstm.weight_hh_l{i}"] = (4 * h, h)
            out[f"lstm.bias_ih_l{i}"] = (4 * h,)
            out[f"lstm.bias_hh_l{i}"] = (4 * h,)
        out["head.weight"] = (v, h)
        out["head.bias"] = (v,)
        return out

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, state: Any = None
    ) -> tuple[Tensor, Any]:
        logits, _ = self.step(idx, state)
        loss = None
        if targets is not None:
            v = self.config.vocab_size
            loss = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def step(self, idx: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Logits and the LSTM state (h, c) after ``idx``, continuing from ``state``."""
        if not isinstance(idx, Tensor) or idx.ndim != 2:
            raise ValueError(
                "ember.models.CharLSTM: idx must be a (B, T) integer tensor, got "
                f"{getattr(idx, 'shape', type(idx).__name__)}"
            )
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state

    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: Generator | None = None,
    ) -> Tensor:
        """Extend ``idx`` by ``max_new_tokens`` sampled tokens; each new token is one LSTM
        step from the carried state (O(1) per token). Sampling as GPT.generate.

        Shape: idx (B, T) integer -> (B, T + max_new_tokens) int64.
        """
        check_generate_args("ember.models.CharLSTM.generate", max_new_tokens, temperature, top_k)
        toks = np.asarray(idx.detach().cpu()).astype(np.int64)
        return generate_tokens(
            self, toks, max_new_tokens, lambda: self.stream(toks, temperature, top_k, generator)
        )

    def stream(
        self,
        toks: np.ndarray,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: Generator | None = None,
    ) -> Iterator[np.ndarray]:
        """The next token of every row, one LSTM step per ``next()``, without end: what
        :meth:`generate` samples, for callers that want each token as it comes. Call it
        in eval mode under ``no_grad()``; steps may run on different threads.

        Shape: toks (B, T) int64 numpy, T >= 1 -> yields (B,) int64.
        """
        logits, state = self.step(tensor(np.asarray(toks, dtype=np.int64)))
        while True:
            last = np.asarray(logits[:, -1], dtype=np.float64)
            nxt = sample_next(last, temperature, top_k, generator).astype(np.int64)
            yield nxt
            logits, state = self.step(tensor(nxt[:, None]), state)
