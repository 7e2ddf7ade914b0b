"""Sentence embeddings from a sentence-transformers folder (Transformer -> Pooling ->
optional Normalize), read and run the way sentence-transformers does, on ember's
:class:`~ember.models.bert.Bert`.

>>> enc = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
>>> enc.encode(["A man is eating food.", "Someone eats."])   # float32 (2, 384)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..ops.creation import tensor
from ..serialization import ModelFileError, parse_json
from .bert import Bert

__all__ = ["SentenceEncoder"]

MODULES = "modules.json"
ST_CONFIG = "sentence_bert_config.json"
POOLING_CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
# sentence-transformers' legacy pooling keys, in its concatenation order.
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
}
_UNSUPPORTED_POOLING = {
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            'ember.models.SentenceEncoder needs the tokenizers library: pip install "ember[text]"'
        ) from None
    return tokenizers


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ModelFileError(path, f"{what} is missing")
    return parse_json(path, path.read_bytes(), what)


def _subfolder(root: Path, file: Path, rel: Any) -> Path:
    """root/rel for a module path from modules.json, which must stay inside root."""
    if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise ModelFileError(file, f"module path {rel!r} is not a folder inside {root}")
    return root / rel


def _module_kinds(root: Path) -> tuple[Path, Path, bool]:
    """modules.json -> (the Transformer's folder, the Pooling's folder, normalize?)."""
    file = root / MODULES
    doc = _read_json(file, MODULES)
    if not isinstance(doc, list) or not all(isinstance(m, dict) for m in doc):
        raise ModelFileError(file, "expected a list of module objects")
    kinds = []
    for m in doc:
        kind = m.get("type")
        if not isinstance(kind, str):
            raise ModelFileError(file, f"module {m.get('name')!r} has no type")
        kinds.append(kind.rsplit(".", 1)[-1])
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelFileError(
            file,
            f"modules {kinds} are not supported (supported: Transformer, Pooling and an "
            "optional Normalize)",
        )
    return (_subfolder(root, file, doc[0].get("path")), _subfolder(root, file, doc[1].get("path")),
            len(kinds) == 3)  # fmt: skip


def _pooling_modes(file: Path, hidden_size: int) -> tuple[str, ...]:
    """The pooling modes of a Pooling config, legacy bool keys or ``pooling_mode``."""
    doc = _read_json(file, "the pooling config")
    if not isinstance(doc, dict):
        raise ModelFileError(file, "the pooling config is not an object")
    dim = doc.get("word_embedding_dimension", doc.get("embedding_dimension", hidden_size))
    if dim != hidden_size:
        raise ModelFileError(file, f"embedding dimension {dim!r} is not the model's {hidden_size}")
    if "pooling_mode" in doc:
        mode = doc["pooling_mode"]
        modes = (mode,) if isinstance(mode, str) else mode
        if not isinstance(modes, (list, tuple)) or not modes:
            raise ModelFileError(file, f"pooling_mode {mode!r} is not a mode or a list of modes")
    else:
        for key, value in doc.items():
            if key.startswith("pooling_mode_") and not isinstance(value, bool):
                raise ModelFileError(file, f"{key} must be true or false, got {value!r}")
        on = {**_POOLING_KEYS, **_UNSUPPORTED_POOLING}
        modes = tuple(mode for key, mode in on.items() if doc.get(key, False)) or ("mean",)
    supported = tuple(_POOLING_KEYS.values())
    for mode in modes:
        if mode not in supported:
            raise ModelFileError(
                file, f"pooling mode {mode!r} is not supported (supported: {', '.join(supported)})"
            )
    # sentence-transformers concatenates in its own order, whatever the config's order
    return tuple(m for m in supported if m in modes)


def _max_length(root: Path, transformer: Path, model: Bert) -> tuple[int, bool]:
    """(the truncation length, do_lower_case), as sentence-transformers derives them:
    sentence_bert_config.json's max_seq_length (else the tokenizer's model_max_length),
    capped by the model's max_position_embeddings."""
    file = transformer / ST_CONFIG
    doc = _read_json(file, ST_CONFIG) if file.is_file() else {}
    if not isinstance(doc, dict):
        raise ModelFileError(file, f"{ST_CONFIG} is not an object")
    limit = model.config.max_position_embeddings
    length = doc.get("max_seq_length")
    if length is None and (transformer / TOKENIZER_CONFIG).is_file():
        tok_cfg = _read_json(transformer / TOKENIZER_CONFIG, TOKENIZER_CONFIG)
        length = tok_cfg.get("model_max_length") if isinstance(tok_cfg, dict) else None
        file = transformer / TOKENIZER_CONFIG
    length = limit if length is None else length
    if isinstance(length, bool) or not isinstance(length, (int, float)) or length < 2:
        raise ModelFileError(file, f"max_seq_length {length!r} is not an integer >= 2")
    lower = doc.get("do_lower_case", False)
    if not isinstance(lower, bool):
        raise ModelFileError(file, f"do_lower_case must be true or false, got {lower!r}")
    return int(min(length, limit)), lower


class SentenceEncoder:
    """A BERT encoder, its tokenizer, a pooling and an optional L2 normalization: what a
    sentence-transformers folder of those modules computes.

    Shape: encode(list of n str) -> float32 (n, dim); encode(str) -> (dim,).
    """

    def __init__(
        self,
        model: Bert,
        tokenizer: Any,
        pooling: tuple[str, ...] = ("mean",),
        normalize: bool = False,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, *, mmap: bool = False, dtype: Any = None
    ) -> SentenceEncoder:
        """Read a sentence-transformers folder: modules.json (Transformer, Pooling, an
        optional Normalize), the Transformer's config.json, model.safetensors,
        tokenizer.json and sentence_bert_config.json, and the Pooling's config.json.
        A missing or malformed file is a ModelFileError naming it. ``mmap`` and ``dtype``
        are :meth:`Bert.from_pretrained`'s."""
        tokenizers = _import_tokenizers()
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"ember.models.SentenceEncoder: no folder {root}")
        transformer, pooling, normalize = _module_kinds(root)
        model = Bert.from_pretrained(transformer, mmap=mmap, dtype=dtype)
        modes = _pooling_modes(pooling / POOLING_CONFIG, model.config.hidden_size)
        max_length, lower = _max_length(root, transformer, model)
        tok_file = transformer / TOKENIZER
        if not tok_file.is_file():
            raise ModelFileError(tok_file, f"{TOKENIZER} is missing")
        try:
            tok = tokenizers.Tokenizer.from_file(str(tok_file))
        except Exception as e:  # the library reports bad files as its own Exception
            raise ModelFileError(tok_file, f"not a tokenizers file ({e})") from None
        # What the Hugging Face fast tokenizer sets per call (padding=True,
        # truncation="longest_first"): the file's own settings are overridden. Padding is
        # ours, per batch.
        tok.no_padding()
        tok.enable_truncation(max_length, stride=0, strategy="longest_first", direction="right")
        if lower:  # sentence-transformers prepends a Lowercase normalizer unless there is one
            norm = tok.normalizer
            seq = list(norm) if isinstance(norm, tokenizers.normalizers.Sequence) else [norm]
            if not any(isinstance(n, tokenizers.normalizers.Lowercase) for n in seq):
                rest = [n for n in seq if n is not None]
                tok.normalizer = tokenizers.normalizers.Sequence(
                    [tokenizers.normalizers.Lowercase(), *rest]
                )
        return cls(model, tok, modes, normalize)

    @property
    def dim(self) -> int:
        """The embedding size."""
        return self.model.config.hidden_size * len(self.pooling)

    def tokenize(self, sentences: Sequence[str]) -> list[tuple[list[int], list[int]]]:
        """(token ids, token type ids) of each sentence: special tokens added, truncated."""
        return [(e.ids, e.type_ids) for e in self.tokenizer.encode_batch(list(sentences))]

    def encode(
        self,
        sentences: str | Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Embeddings of the sentences, float32, in input order. Sentences are sorted by
        token count and batched, each batch padded to its longest. They are L2-normalized
        when the folder has a Normalize module or ``normalize_embeddings`` is true (as in
        sentence-transformers, False does not undo a Normalize module).

        Shape: a list of n str -> (n, dim); one str -> (dim,).
        """
        single = isinstance(sentences, str)
        texts = [sentences] if single else sentences
        if not isinstance(texts, Sequence) or not all(isinstance(s, str) for s in texts):
            raise TypeError("ember.models.SentenceEncoder.encode: expected a str or a list of str")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"ember.models.SentenceEncoder.encode: batch_size must be an int >= 1, got "
                f"{batch_size!r}"
            )
        normalize = self.normalize or bool(normalize_embeddings)
        tokens = self.tokenize(texts)
        order = np.argsort([-len(ids) for ids, _ in tokens], kind="stable")
        out = np.empty((len(texts), self.dim), np.float32)
        starts = range(0, len(texts), batch_size)
        with no_grad():
            for k, start in enumerate(starts):
                idx = order[start : start + batch_size]
                out[idx] = self._embed([tokens[i] for i in idx])
                if show_progress_bar:
                    print(f"\rbatches {k + 1}/{len(starts)}", end="", file=sys.stderr)
        if show_progress_bar:
            print(file=sys.stderr)
        if normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def _embed(self, batch: list[tuple[list[int], list[int]]]) -> np.ndarray:
        """Pooled embeddings of one batch, (B, dim) float32."""
        lengths = np.array([len(ids) for ids, _ in batch])
        t = int(lengths.max())
        ids = np.zeros((len(batch), t), np.int64)
        types = np.zeros((len(batch), t), np.int64)
        for i, (row, type_row) in enumerate(batch):
            ids[i, : len(row)], types[i, : len(row)] = row, type_row
        # Every layer runs on the real tokens only (forward_unpadded, attention included):
        # on MiniLM at batch 32 (2 threads) this beat the padded forward on length-sorted
        # batches (~17% padding; ~1.3x) and on unsorted ones (~4x the padding; ~3x).
        hidden = self.model.forward_unpadded(
            tensor(ids), lengths, tensor(types) if types.any() else None
        )
        if hidden.dtype is not D.float32:
            hidden = hidden.float()
        return _pool(np.asarray(hidden), lengths, self.pooling)


def _pool(hidden: np.ndarray, lengths: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """Pool packed hidden states (N, H), rows of sentence i being a run of lengths[i],
    into (B, len(modes) * H) in mode order."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[starts])
        elif mode == "max":
            out.append(np.maximum.reduceat(hidden, starts, axis=0))
        else:
            total = np.add.reduceat(hidden, starts, axis=0)
            n = lengths[:, None].astype(np.float32)
            out.append(total / (n if mode == "mean" else np.sqrt(n)))
    return np.concatenate(out, axis=1)
