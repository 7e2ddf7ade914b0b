"""BERT: a post-LayerNorm Transformer encoder with Hugging Face's module and parameter
names, so a Hugging Face ``model.safetensors`` loads into it name for name.

>>> model = Bert.from_pretrained("all-MiniLM-L6-v2")      # config.json + model.safetensors
>>> hidden = model(input_ids, attention_mask)              # (B, T) int64 -> (B, T, H)
>>> packed = model.forward_unpadded(input_ids, lengths)    # (sum(lengths), H)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import _dtype as D
from ..nn import functional as F
from ..nn import init
from ..nn.activation import split_heads
from ..nn.container import ModuleList
from ..nn.init import no_init
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.normalization import LayerNorm
from ..nn.sparse import Embedding
from ..ops.creation import tensor
from ..ops.index import index_select
from ..ops.shape import cat
from ..serialization import (
    FLOAT_DTYPES,
    ModelFileError,
    load_state,
    parse_device,
    parse_dtype,
    parse_json,
    read_header,
)
from ..tensor import Tensor
from ._config import MAX_LAYERS, MAX_SIZE, MAX_WIDTH, ModelConfig, bounded, one_of

__all__ = ["Bert", "BertConfig"]

# Hugging Face's activation names -> ember's fused linear activations.
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
# config.json keys that describe training, saving or other heads, not the encoder's math.
_HF_IGNORED = {
    "architectures", "transformers_version", "_name_or_path", "name_or_path", "model_type",
    "position_embedding_type", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "classifier_dropout", "use_cache", "gradient_checkpointing", "torch_dtype", "dtype",
    "is_decoder", "add_cross_attention", "tie_word_embeddings", "chunk_size_feed_forward",
    "id2label", "label2id", "problem_type", "bos_token_id", "eos_token_id", "output_past",
}  # fmt: skip
_MAX_HEAD_DIM = 256  # the fused attention kernel's limit
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
PREFIX = "bert."
POSITION_IDS = "embeddings.position_ids"  # a buffer some files carry; positions are 0..T-1


@dataclass
class BertConfig(ModelConfig):
    """The hyperparameters of :class:`Bert` under Hugging Face's names (``from_hf`` reads
    a Hugging Face config.json). ``add_pooling_layer`` is BertModel's constructor
    argument: whether the model has ``pooler.dense``."""

    vocab_size: int = bounded(30522, 1, MAX_SIZE)
    hidden_size: int = bounded(768, 1, MAX_WIDTH)
    num_hidden_layers: int = bounded(12, 1, MAX_LAYERS)
    num_attention_heads: int = bounded(12, 1, MAX_WIDTH)
    intermediate_size: int = bounded(3072, 1, MAX_SIZE)
    hidden_act: str = one_of("gelu", tuple(_ACTIVATIONS))
    max_position_embeddings: int = bounded(512, 1, MAX_SIZE)
    type_vocab_size: int = bounded(2, 1, MAX_SIZE)
    layer_norm_eps: float = bounded(1e-12, 0.0, 1.0)
    initializer_range: float = bounded(0.02, 0.0, 1.0)
    pad_token_id: int = bounded(0, 0, MAX_SIZE)
    add_pooling_layer: bool = True

    DIVISIBLE = (("hidden_size", "num_attention_heads"),)

    def validate(self) -> None:
        super().validate()
        head_dim = self.hidden_size // self.num_attention_heads
        if head_dim > _MAX_HEAD_DIM:
            raise ValueError(
                f"ember.models.BertConfig: the head size hidden_size / num_attention_heads = "
                f"{head_dim} exceeds the attention kernel's {_MAX_HEAD_DIM}"
            )

    @classmethod
    def from_hf(cls, doc: Any) -> BertConfig:
        """The config of a Hugging Face BERT config.json (already parsed). Keys about
        training, saving or other heads are ignored; a model this encoder would compute
        differently (another model_type, relative positions, a decoder) is a ValueError."""
        if not isinstance(doc, dict):
            raise ValueError(
                f"ember.models.BertConfig: expected an object, got {type(doc).__name__}"
            )
        for key, want in (("model_type", "bert"), ("position_embedding_type", "absolute")):
            if doc.get(key, want) != want:
                raise ValueError(
                    f"ember.models.BertConfig: {key} {doc[key]!r} is not supported (only {want!r})"
                )
        for key in ("is_decoder", "add_cross_attention"):
            if doc.get(key, False) is not False:
                raise ValueError(f"ember.models.BertConfig: {key}={doc[key]!r} is not supported")
        act = doc.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise ValueError(
                f"ember.models.BertConfig: hidden_act {act!r} is not supported (supported: "
                f"{', '.join(_ACTIVATIONS)})"
            )
        names = {f.name for f in fields(cls)}
        # Hugging Face keeps unknown keys as attributes; so do we (by ignoring them), but a
        # null pad_token_id means "none" and leaves the default.
        values = {k: v for k, v in doc.items() if k in names and k not in _HF_IGNORED}
        if values.get("pad_token_id", 0) is None:
            del values["pad_token_id"]
        return cls(**values)


class BertEmbeddings(Module):
    """LayerNorm(word + position + token-type embeddings)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        h = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, h)
        self.position_embeddings = Embedding(config.max_position_embeddings, h)
        self.token_type_embeddings = Embedding(config.type_vocab_size, h)
        self.LayerNorm = LayerNorm(h, eps=config.layer_norm_eps)

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
    ) -> Tensor:
        """Shape: input_ids (B, T) or (N,); position_ids like it, or None for 0..T-1 of
        (B, T) ids -> (*input_ids.shape, H)."""
        x = self.word_embeddings(input_ids)
        if position_ids is None:  # a slice of the table, broadcast over the batch: no gather
            x = x + self.position_embeddings.weight[: input_ids.shape[-1]]
        else:
            x = x + self.position_embeddings(position_ids)
        if token_type_ids is None:  # all type 0, as Hugging Face's default
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x)


class BertSelfAttention(Module):
    """The query, key and value projections (attention itself runs in BertAttention)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        h = config.hidden_size
        self.query = Linear(h, h)
        self.key = Linear(h, h)
        self.value = Linear(h, h)


class BertSelfOutput(Module):
    """LayerNorm(dense(y) + residual)."""

    def __init__(self, config: BertConfig, width: int):
        super().__init__()
        self.dense = Linear(width, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, y: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(y) + residual)


class _Padded:
    """Attention for rows (B * T, C) that are a padded (B, T) batch: masked batched SDPA."""

    def __init__(self, b: int, t: int, keep: Tensor | None):
        self.b, self.t, self.keep = b, t, keep

    def attend(self, qkv: Tensor, heads: int) -> Tensor:
        """(B * T, 3H) fused projections -> (B * T, H) attention outputs."""
        q, k, v = split_heads(qkv.reshape(self.b, self.t, -1), 3, heads)  # (B, T, heads, D)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.keep, layout="BTHD")
        return y.reshape(self.b * self.t, -1)


class _Packed:
    """Attention for rows (N, C) that are the real tokens only, sentence after sentence
    (cu_seqlens: the sentences' row offsets): varlen attention, no pads anywhere."""

    def __init__(self, cu_seqlens: Tensor):
        self.cu_seqlens = cu_seqlens

    def attend(self, qkv: Tensor, heads: int) -> Tensor:
        """(N, 3H) fused projections -> (N, H) attention outputs."""
        n = qkv.shape[0]
        q, k, v = (x.reshape(n, heads, -1) for x in split_heads(qkv.reshape(1, n, -1), 3, heads))
        return F.varlen_attention(q, k, v, self.cu_seqlens).reshape(n, -1)


class BertAttention(Module):
    """Self-attention with a key-padding mask, then the output projection and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config, config.hidden_size)
        self.heads = config.num_attention_heads

    def forward(self, x: Tensor, tokens: _Padded | _Packed) -> Tensor:
        s = self.self
        projections = (s.query, s.key, s.value)
        kind = type(s.query)
        if all(type(p) is kind for p in projections) and hasattr(kind, "fused_forward"):
            # One GEMM for q, k and v (~11% faster than three at MiniLM's sizes, fp32 or
            # int8), through the layers' own class so quantized stand-ins fuse too.
            qkv = kind.fused_forward(projections, x)
        else:
            qkv = cat([p(x) for p in projections], dim=-1)
        return self.output(tokens.attend(qkv, self.heads), x)


class BertIntermediate(Module):
    """act(dense(x)), the activation fused into the GEMM's op."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.activation = _ACTIVATIONS[config.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(x, activation=self.activation)


class BertLayer(Module):
    """Post-LN: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, config.intermediate_size)

    def forward(self, x: Tensor, tokens: _Padded | _Packed) -> Tensor:
        x = self.attention(x, tokens)
        return self.output(self.intermediate(x), x)


class BertEncoder(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])


class BertPooler(Module):
    """tanh(dense(hidden state of the first token))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return F.tanh(self.dense(hidden[:, 0]))


class Bert(Module):
    """A BERT encoder (Hugging Face's BertModel: names, post-LN layers, GELU, absolute
    positions, a key-padding attention mask). Eval-mode math only: there is no dropout.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` returns the last hidden
    state; ``pool(hidden)`` the pooler output (with ``add_pooling_layer``).
    A row whose attention_mask is all zeros attends to nothing and its layer outputs
    start from zeros (Hugging Face attends uniformly to every key instead).

    Shape: input_ids (B, T) integer, T <= max_position_embeddings; attention_mask (B, T)
    (nonzero = attend); token_type_ids (B, T) -> (B, T, hidden_size).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"ember.models.Bert: expected a BertConfig, got {type(config).__name__}"
            )
        config.validate()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        if config.add_pooling_layer:
            self.pooler = BertPooler(config)
        # Hugging Face's initialization (a no-op under nn.init.no_init(), as when loading).
        std = config.initializer_range
        for m in self.modules():
            if isinstance(m, (Linear, Embedding)):
                init.normal_(m.weight, 0.0, std)
            if isinstance(m, Linear):
                init.zeros_(m.bias)

    @staticmethod
    def state_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
        """The names and shapes of ``Bert(config).state_dict()``, computed without building
        anything: weights files are checked against them before allocating."""
        h, f = config.hidden_size, config.intermediate_size
        out: dict[str, tuple[int, ...]] = {
            "embeddings.word_embeddings.weight": (config.vocab_size, h),
            "embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
            "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
            "embeddings.LayerNorm.weight": (h,),
            "embeddings.LayerNorm.bias": (h,),
        }

        def affine(name: str, weight: tuple[int, ...]) -> None:
            out[f"{name}.weight"], out[f"{name}.bias"] = weight, weight[:1]

        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}"
            for proj in ("query", "key", "value"):
                affine(f"{p}.attention.self.{proj}", (h, h))
            affine(f"{p}.attention.output.dense", (h, h))
            affine(f"{p}.attention.output.LayerNorm", (h,))
            affine(f"{p}.intermediate.dense", (f, h))
            affine(f"{p}.output.dense", (h, f))
            affine(f"{p}.output.LayerNorm", (h,))
        if config.add_pooling_layer:
            affine("pooler.dense", (h, h))
        return out

    def _check(self, input_ids: Tensor, *others: tuple[str, Tensor | None]) -> tuple[int, int]:
        if not isinstance(input_ids, Tensor):
            raise TypeError(
                f"ember.models.Bert: input_ids must be a Tensor, got {type(input_ids).__name__}"
            )
        if input_ids.ndim != 2 or input_ids.dtype.is_floating_point or input_ids.dtype is D.bool_:
            raise ValueError(
                f"ember.models.Bert: input_ids must be a 2-D integer tensor (B, T), got shape "
                f"{tuple(input_ids.shape)} dtype {input_ids.dtype}"
            )
        b, t = input_ids.shape
        if not 1 <= t <= self.config.max_position_embeddings:
            raise ValueError(
                f"ember.models.Bert: sequence length {t} is outside [1, max_position_embeddings="
                f"{self.config.max_position_embeddings}]"
            )
        for name, x in others:
            if x is not None and (not isinstance(x, Tensor) or tuple(x.shape) != (b, t)):
                got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(
                    f"ember.models.Bert: {name} must be a ({b}, {t}) tensor, got {got}"
                )
        return b, t

    def _encode(self, x: Tensor, tokens: _Padded | _Packed) -> Tensor:
        for layer in self.encoder.layer:
            x = layer(x, tokens)
        return x

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        b, t = self._check(
            input_ids, ("attention_mask", attention_mask), ("token_type_ids", token_type_ids)
        )
        keep = None
        if attention_mask is not None:
            keep = (attention_mask != 0).reshape(b, 1, 1, t)
        x = self.embeddings(input_ids, token_type_ids)
        return self._encode(x.reshape(b * t, -1), _Padded(b, t, keep)).reshape(b, t, -1)

    def forward_unpadded(
        self,
        input_ids: Tensor,
        lengths: Sequence[int],
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """The hidden states of the real tokens only, row i's first ``lengths[i]`` tokens,
        packed one row after another. Every layer's linear, GELU and LayerNorm work runs on
        the N real tokens only, attention included (varlen attention over the sentences).
        Equal to ``forward(input_ids, mask)[mask]`` for the right-padded mask of lengths.

        Shape: input_ids (B, T) integer, lengths B ints in [1, T] -> (sum(lengths), H).
        """
        b, t = self._check(input_ids, ("token_type_ids", token_type_ids))
        n = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if n.shape != (b,) or n.min() < 1 or n.max() > t:
            raise ValueError(
                f"ember.models.Bert.forward_unpadded: lengths must be {b} ints in [1, {t}], got "
                f"{list(lengths)}"
            )
        real = np.arange(t)[None, :] < n[:, None]  # (B, T)
        dev = input_ids.device
        rows_t = tensor(np.flatnonzero(real), device=dev)  # real positions of the flat batch
        flat = lambda z: index_select(z.reshape(b * t), 0, rows_t)  # noqa: E731
        positions = tensor(np.nonzero(real)[1], device=dev)
        x = self.embeddings(
            flat(input_ids), None if token_type_ids is None else flat(token_type_ids), positions
        )
        return self._encode(x, _Packed(tensor(np.concatenate([[0], np.cumsum(n)]))))

    def pool(self, hidden: Tensor) -> Tensor:
        """The pooler output tanh(dense(hidden[:, 0])). Shape: (B, T, H) -> (B, H)."""
        if not self.config.add_pooling_layer:
            raise ValueError("ember.models.Bert.pool: this model has no pooler (add_pooling_layer)")
        return self.pooler(hidden)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, *, mmap: bool = False, dtype: Any = None
    ) -> Bert:
        """Load a Hugging Face BERT folder (config.json + model.safetensors), in eval mode.

        Tensor names may carry the ``bert.`` prefix (BertForMaskedLM-style files; other
        heads such as ``cls.*`` are ignored); an ``embeddings.position_ids`` buffer is
        ignored. The names and shapes are checked against the config before the model is
        built: a missing, extra or mis-shaped tensor is a ModelFileError naming the file
        and the tensor. ``mmap`` and ``dtype`` ("float32", "bfloat16", "float16"; default:
        the file's) work as in :func:`ember.load`: with ``mmap=True`` the parameters are the
        file's pages (copy-on-write).
        """
        target_dtype = parse_dtype(dtype)
        folder = Path(folder)
        cfg_file, weights = folder / CONFIG, folder / WEIGHTS
        for f in (cfg_file, weights):
            if not f.is_file():
                raise FileNotFoundError(
                    f"ember.models.Bert.from_pretrained: no {f.name} in {folder}"
                )
        doc = parse_json(cfg_file, cfg_file.read_bytes(), CONFIG)
        infos = read_header(weights)[0]
        names = _own_names(infos)
        if isinstance(doc, dict):  # BertModel has a pooler; the file says whether it was saved
            doc = {**doc, "add_pooling_layer": "pooler.dense.weight" in names}
        try:
            config = BertConfig.from_hf(doc)
        except (TypeError, ValueError) as e:
            raise ModelFileError(cfg_file, str(e)) from None
        _check_shapes(weights, {own: infos[name] for own, name in names.items()}, config)
        with no_init():
            model = cls(config)
        tensors = load_state(weights, mmap=mmap, dtype=target_dtype, dev=parse_device(None))
        model.load_state_dict({own: tensors[name] for own, name in names.items()}, assign=True)
        return model.eval()


def _own_names(infos: dict[str, Any]) -> dict[str, str]:
    """The file's encoder tensors: {name in Bert's state_dict: name in the file}."""
    prefixed = any(k.startswith(PREFIX) for k in infos)
    out = {}
    for name in infos:
        own = name[len(PREFIX) :] if prefixed and name.startswith(PREFIX) else name
        if (prefixed and not name.startswith(PREFIX)) or own == POSITION_IDS:
            continue  # another head (cls.*, ...) or the positions buffer
        out[own] = name
    return out


def _check_shapes(path: Path, infos: dict[str, Any], config: BertConfig) -> None:
    """ModelFileError naming the first tensors that are missing, extra, mis-shaped or not
    floating point (so nothing is allocated for a file that does not fit the config)."""
    expected = Bert.state_shapes(config)
    for own, shape in expected.items():
        if own not in infos:
            raise ModelFileError(path, f"missing (expected shape {shape})", own)
    for own, info in infos.items():
        if own not in expected:
            raise ModelFileError(path, "not a tensor of a BERT encoder", own)
        if info.shape != expected[own]:
            raise ModelFileError(
                path, f"shape {info.shape} does not match the config's {expected[own]}", own
            )
        if info.dtype not in FLOAT_DTYPES:
            raise ModelFileError(path, f"dtype {info.dtype} is not floating point", own)
