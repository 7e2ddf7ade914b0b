"""GPT: a decoder-only Transformer in the style of nanoGPT (pre-LayerNorm blocks, causal
self-attention with one fused qkv projection, learned position embeddings, a language
model head tied to the token embedding or not), with KV-cached generation.

>>> cfg = GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128)
>>> model = GPT(cfg)
>>> logits, loss = model(idx, targets)          # idx, targets: (B, T) int64
>>> out = model.generate(idx[:, :1], 100, temperature=0.8, top_k=20)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _dtype as D
from ..nn import functional as F
from ..nn import init
from ..nn.activation import split_heads
from ..nn.container import ModuleList
from ..nn.dropout import Dropout
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.normalization import LayerNorm
from ..nn.sparse import Embedding
from ..ops.creation import arange, empty, tensor
from ..optim import AdamW
from ..random import Generator
from ..tensor import Tensor
from ._config import MAX_LAYERS, MAX_SIZE, MAX_WIDTH, ModelConfig, bounded
from .sampling import check_generate_args, generate_tokens, sample_next


@dataclass
class GPTConfig(ModelConfig):
    """The hyperparameters of :class:`GPT` (nanoGPT's names), with the ranges a config
    may take (generous for real models, small enough that nothing explodes)."""

    block_size: int = bounded(1024, 1, MAX_SIZE)
    vocab_size: int = bounded(50304, 1, MAX_SIZE)
    n_layer: int = bounded(12, 1, MAX_LAYERS)
    n_head: int = bounded(12, 1, MAX_WIDTH)
    n_embd: int = bounded(768, 1, MAX_WIDTH)
    dropout: float = bounded(0.0, 0.0, 1.0, below=True)
    bias: bool = True
    tie_weights: bool = True

    DIVISIBLE = (("n_embd", "n_head"),)


class CausalSelfAttention(Module):
    """Multi-head causal self-attention: one fused qkv Linear (``c_attn``), attention in
    the (B, T, H, D) layout straight from zero-copy views of its output, ``c_proj``.

    ``n_head`` heads of ``head_dim`` = n_embd / config.n_head each: config.n_head of them
    when built, fewer once ember.prune.structured removed some (q/k/v are then
    n_head * head_dim wide, less than n_embd)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        c = config.n_embd
        self.c_attn = Linear(c, 3 * c, bias=config.bias)
        self.c_proj = Linear(c, c, bias=config.bias)
        self.attn_dropout = Dropout(config.dropout)
        self.resid_dropout = Dropout(config.dropout)
        self.n_head = config.n_head
        self.head_dim = c // config.n_head
        self.n_embd = c
        self.dropout = config.dropout

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None, pos: int = 0):
        b, t, _ = x.shape
        h = self.n_head
        q, k, v = split_heads(self.c_attn(x), 3, h)  # (B, T, H, D) views, one op
        causal = True
        if cache is not None:
            # Write the new keys/values in place; attend to the cached prefix through views.
            if t > 1 and pos:  # top-left causal alignment is only right from position 0
                raise ValueError("ember.models.GPT: a prompt chunk must start the cache")
            kc, vc = cache
            kc[:, pos : pos + t] = k
            vc[:, pos : pos + t] = v
            k, v = kc[:, : pos + t], vc[:, : pos + t]
            causal = t > 1  # one new token may see every cached position
        if self.training and self.dropout > 0.0:
            # Attention dropout needs the weights: explicit (B, H, T, T) path.
            qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            s = (qh @ kh.mT) * (1.0 / math.sqrt(self.head_dim))
            pos_ids = arange(t, device=s.device)
            banned = pos_ids.unsqueeze(0) > pos_ids.unsqueeze(1)
            w = F.dropout(F.softmax(s.masked_fill(banned, float("-inf")), -1), self.dropout)
            y = (w @ vh).transpose(1, 2)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, layout="BTHD")
        return self.resid_dropout(self.c_proj(y.reshape(b, t, h * self.head_dim)))


class MLP(Module):
    """c_proj(GELU(c_fc(x))), the GELU fused into c_fc's GEMM."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        c = config.n_embd
        self.c_fc = Linear(c, 4 * c, bias=config.bias)
        self.c_proj = Linear(4 * c, c, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.c_fc(x, activation="gelu")
        return self.dropout(self.c_proj(h))


class Block(Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: Any = None, pos: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, pos)
        return x + self.mlp(self.ln_2(x))


class _Trunk(Module):
    """nanoGPT's ``transformer`` ModuleDict: wte, wpe, drop, h, ln_f."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.wte = Embedding(config.vocab_size, config.n_embd)
        self.wpe = Embedding(config.block_size, config.n_embd)
        self.drop = Dropout(config.dropout)
        self.h = ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)


class GPT(Module):
    """A GPT language model (nanoGPT's architecture and initialization).

    ``forward(idx, targets=None) -> (logits, loss)``; loss is the mean cross-entropy over
    all positions (targets of -1 are ignored), None without targets.

    Shape: idx (B, T) integer with T <= block_size -> logits (B, T, vocab_size), loss ().
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"ember.models.GPT: expected a GPTConfig, got {type(config).__name__}")
        config.validate()
        self.config = config
        self.transformer = _Trunk(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        self.apply(self._init_weights)
        std = 0.02 / math.sqrt(2 * config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                init.normal_(p, 0.0, std)

    @staticmethod
    def state_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
        """The names and shapes of ``GPT(config).state_dict()``, computed without building
        anything: a model folder's weights are checked against them before allocating."""
        c, v = config.n_embd, config.vocab_size
        out: dict[str, tuple[int, ...]] = {
            "transformer.wte.weight": (v, c),
            "transformer.wpe.weight": (config.block_size, c),
        }

        def affine(name: str, weight: tuple[int, ...]) -> None:
            out[f"{name}.weight"] = weight
            if config.bias:
                out[f"{name}.bias"] = weight[:1]

        for i in range(config.n_layer):
            h = f"transformer.h.{i}"
            affine(f"{h}.ln_1", (c,))
            affine(f"{h}.attn.c_attn", (3 * c, c))
            affine(f"{h}.attn.c_proj", (c, c))
            affine(f"{h}.ln_2", (c,))
            affine(f"{h}.mlp.c_fc", (4 * c, c))
            affine(f"{h}.mlp.c_proj", (c, 4 * c))
        affine("transformer.ln_f", (c,))
        out["lm_head.weight"] = (v, c)
        return out

    @staticmethod
    def _init_weights(m: Module) -> None:
        if isinstance(m, Linear):
            init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, Embedding):
            init.normal_(m.weight, 0.0, 0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """The number of parameters (tied ones once); without the position embedding by
        default, as nanoGPT reports it."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def _check_idx(self, idx: Tensor, start: int = 0) -> tuple[int, int]:
        if not isinstance(idx, Tensor):
            raise TypeError(f"ember.models.GPT: idx must be a Tensor, got {type(idx).__name__}")
        if idx.ndim != 2 or idx.dtype.is_floating_point or idx.dtype is D.bool_:
            raise ValueError(
                f"ember.models.GPT: idx must be a 2-D integer tensor (B, T), got shape "
                f"{tuple(idx.shape)} dtype {idx.dtype}"
            )
        b, t = idx.shape
        if t == 0 or start + t > self.config.block_size:
            raise ValueError(
                f"ember.models.GPT: sequence length {start + t} is outside [1, block_size="
                f"{self.config.block_size}]"
            )
        return b, t

    def _hidden(self, idx: Tensor, caches: list | None = None, pos: int = 0) -> Tensor:
        """The final hidden states (after ln_f's input), (B, T, n_embd)."""
        _, t = self._check_idx(idx, pos)
        tr = self.transformer
        # Positions pos..pos+t-1 are a slice of wpe: one view op instead of a gather.
        x = tr.drop(tr.wte(idx) + tr.wpe.weight[pos : pos + t])
        for i, block in enumerate(tr.h):
            x = block(x, None if caches is None else caches[i], pos)
        return x

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Any]:
        x = self.transformer.ln_f(self._hidden(idx))
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            if tuple(targets.shape) != tuple(idx.shape):
                raise ValueError(
                    f"ember.models.GPT: targets of shape {tuple(targets.shape)} do not match "
                    f"idx of shape {tuple(idx.shape)}"
                )
            v = self.config.vocab_size
            loss = F.cross_entropy(logits.view(-1, v), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(
        self,
        weight_decay: float,
        learning_rate: float,
        betas: tuple[float, float],
        device_type: str | None = None,
    ) -> AdamW:
        """AdamW with weight decay on the matrices (dim >= 2: linear and embedding
        weights) and none on biases and LayerNorm parameters, as in nanoGPT."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return AdamW(groups, lr=learning_rate, betas=betas)

    # ---- generation -------------------------------------------------------------------
    def _head_shapes(self) -> list[tuple[int, int]]:
        """(heads, head_dim) of each layer's attention."""
        return [(blk.attn.n_head, blk.attn.head_dim) for blk in self.transformer.h]

    def _last_logits(self, x: Tensor) -> np.ndarray:
        """Logits of the last position as float64 numpy (B, V)."""
        x = self.transformer.ln_f(x[:, -1])
        return np.asarray(self.lm_head(x), dtype=np.float64)

    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: Generator | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Extend ``idx`` by ``max_new_tokens`` sampled tokens (no gradients).

        ``temperature == 0`` picks the most likely token (greedy); otherwise the logits
        are divided by ``temperature``, cut to the ``top_k`` largest and sampled with
        ember's generator (``ember.manual_seed`` or ``generator`` make it reproducible).
        With ``use_cache`` every layer keeps its keys and values in a preallocated
        (B, block_size, H, D) buffer, so each new token costs O(T); once the sequence
        fills block_size, the cache is refilled from the last block_size tokens (the same
        crop as without the cache).

        Shape: idx (B, T) integer -> (B, T + max_new_tokens) int64.
        """
        check_generate_args("ember.models.GPT.generate", max_new_tokens, temperature, top_k)
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError("ember.models.GPT.generate: idx must be a (B, T) tensor with T >= 1")
        toks = np.asarray(idx.detach().cpu()).astype(np.int64)
        return generate_tokens(
            self,
            toks,
            max_new_tokens,
            lambda: self.stream(toks, temperature, top_k, generator, use_cache),
        )

    def stream(
        self,
        toks: np.ndarray,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: Generator | None = None,
        use_cache: bool = True,
    ) -> Iterator[np.ndarray]:
        """The next token of every row, one step per ``next()``, without end: what
        :meth:`generate` samples (same arguments), for callers that want each token as it
        comes (serving streams them). Call it in eval mode under ``no_grad()``; each step
        may run on a different thread (the grad mode is per thread).

        Shape: toks (B, T) int64 numpy, T >= 1 -> yields (B,) int64.
        """
        toks = np.asarray(toks, dtype=np.int64)
        bs = self.config.block_size
        b = toks.shape[0]
        dt = self.transformer.wte.weight.dtype  # the float dtype (lm_head may be int8)
        caches = None
        pos = 0
        while True:
            if not use_cache:
                x = self._hidden(tensor(toks[:, -bs:]))
            elif caches is None or pos >= bs:
                if caches is None:
                    # Per layer: pruning may leave each its own head count.
                    caches = [
                        tuple(empty(b, bs, *shape, dtype=dt) for _ in range(2))
                        for shape in self._head_shapes()
                    ]
                window = toks[:, -bs:]
                x = self._hidden(tensor(window), caches, 0)
                pos = window.shape[1]
            else:
                x = self._hidden(tensor(toks[:, -1:]), caches, pos)
                pos += 1
            nxt = sample_next(self._last_logits(x), temperature, top_k, generator)
            nxt = nxt.astype(np.int64)
            toks = np.concatenate([toks, nxt[:, None]], axis=1)
            yield nxt
