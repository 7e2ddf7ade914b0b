"""One adapter per architecture: the tensors a model serves (derived from its config),
and how a list of requests becomes one model call and is split back. Runs in worker
threads; inputs here have already been checked against the metadata."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..models import GPT, Bert, CharLSTM, DigitsCNN, SentenceEncoder
from ..models.folder import is_model_folder, load_model
from ..ops.creation import tensor
from ..serialization import ModelFileError
from .config import TensorMeta
from .errors import BadRequest

Request = dict[str, np.ndarray]


def _floats(x: Any) -> np.ndarray:
    """An ember tensor as float32 numpy (models may compute in bf16/fp16)."""
    return np.asarray(x.float() if x.dtype.is_floating_point else x, dtype=np.float32)


def _pad(rows: list[np.ndarray], value: int = 0) -> np.ndarray:
    """Stack (b_i, t_i) int arrays into (sum b_i, max t_i), right-padded with ``value``."""
    t = max(r.shape[1] for r in rows)
    out = np.full((sum(r.shape[0] for r in rows), t), value, dtype=np.int64)
    at = 0
    for r in rows:
        out[at : at + r.shape[0], : r.shape[1]] = r
        at += r.shape[0]
    return out


def _split(batch: np.ndarray, requests: list[np.ndarray], cut: bool) -> list[np.ndarray]:
    """Row blocks of ``batch`` back per request (each cut to its own length when ``cut``)."""
    out, at = [], 0
    for r in requests:
        part = batch[at : at + r.shape[0]]
        out.append(np.ascontiguousarray(part[:, : r.shape[1]] if cut else part))
        at += r.shape[0]
    return out


class Adapter(ABC):
    """Base: ``inputs``/``outputs`` metadata, ``optional`` input names, ``limits`` (the
    largest size of each -1 dim after the batch dim, None = no limit), ``run``."""

    kind: str
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    optional: frozenset[str] = frozenset()
    limits: dict[str, tuple[int | None, ...]] = {}
    tokenizer: dict | None = None
    model: Any = None

    def check_values(self, request: Request) -> None:
        """BadRequest for values the model cannot take (token ids out of range...)."""
        return None  # every value is fine unless an architecture says otherwise

    @abstractmethod
    def run(self, requests: list[Request]) -> list[Request]:
        """Outputs per request for requests merged into one call."""


def _check_ids(name: str, ids: np.ndarray, vocab: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise BadRequest(
            f"input {name!r}: token ids must be in [0, {vocab}), got {ids.min()}..{ids.max()}"
        )


class TokenLM(Adapter):
    """GPT / CharLSTM: input_ids INT64 [-1,-1] -> logits FP32 [-1,-1,vocab]. Rows of
    different lengths are right-padded: the models are causal, so padding after a
    row's tokens never changes its real positions' logits, which are cut back."""

    def __init__(self, kind: str, model: GPT | CharLSTM, tokenizer: dict | None):
        self.kind, self.model, self.tokenizer = kind, model, tokenizer
        v = model.config.vocab_size
        self.inputs = (TensorMeta("input_ids", "INT64", (-1, -1)),)
        self.outputs = (TensorMeta("logits", "FP32", (-1, -1, v)),)
        # GPT attends over at most block_size positions; the LSTM carries any length.
        self.limits = {"input_ids": (model.config.block_size if kind == "gpt" else None,)}

    def check_values(self, request: Request) -> None:
        _check_ids("input_ids", request["input_ids"], self.model.config.vocab_size)

    def run(self, requests: list[Request]) -> list[Request]:
        ids = [r["input_ids"] for r in requests]
        with no_grad():
            logits, _ = self.model(tensor(_pad(ids)))
        return [{"logits": x} for x in _split(_floats(logits), ids, cut=True)]


class ImageClassifier(Adapter):
    """DigitsCNN: input FP32 [-1,1,-1,-1] -> logits FP32 [-1,classes]. Requests of one
    image size run as one call (global average pooling takes any size)."""

    kind = "digits_cnn"

    def __init__(self, model: DigitsCNN):
        self.model = model
        self.inputs = (TensorMeta("input", "FP32", (-1, 1, -1, -1)),)
        self.outputs = (TensorMeta("logits", "FP32", (-1, model.config.num_classes)),)
        self.limits = {"input": (1, 4096, 4096)}

    def check_values(self, request: Request) -> None:
        x = request["input"]
        if min(x.shape[2:]) < 2:
            raise BadRequest(f"input 'input': images must be at least 2x2, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise BadRequest("input 'input' holds NaN or infinity")

    def run(self, requests: list[Request]) -> list[Request]:
        out: list[Request | None] = [None] * len(requests)
        sizes = {r["input"].shape[1:] for r in requests}
        for size in sizes:  # one call per image size
            idx = [i for i, r in enumerate(requests) if r["input"].shape[1:] == size]
            xs = [requests[i]["input"] for i in idx]
            with no_grad():
                logits = _floats(self.model(tensor(np.concatenate(xs).astype(np.float32))))
            for i, part in zip(idx, _split(logits, xs, cut=False)):
                out[i] = {"logits": part}
        return out  # type: ignore[return-value]


class BertEncoder(Adapter):
    """Bert: input_ids INT64 [-1,-1] (+ optional attention_mask, token_type_ids) ->
    last_hidden_state FP32 [-1,-1,hidden]. Padding is masked out of attention."""

    kind = "bert"
    optional = frozenset({"attention_mask", "token_type_ids"})

    def __init__(self, model: Bert):
        self.model = model
        c = model.config
        self.inputs = tuple(
            TensorMeta(n, "INT64", (-1, -1))
            for n in ("input_ids", "attention_mask", "token_type_ids")
        )
        self.outputs = (TensorMeta("last_hidden_state", "FP32", (-1, -1, c.hidden_size)),)
        self.limits = {n.name: (c.max_position_embeddings,) for n in self.inputs}

    def check_values(self, request: Request) -> None:
        ids = request["input_ids"]
        for name, arr in request.items():
            if arr.shape != ids.shape:
                raise BadRequest(
                    f"input {name!r} has shape {list(arr.shape)}, input_ids {list(ids.shape)}"
                )
        _check_ids("input_ids", ids, self.model.config.vocab_size)
        if "token_type_ids" in request:
            _check_ids(
                "token_type_ids", request["token_type_ids"], self.model.config.type_vocab_size
            )

    def run(self, requests: list[Request]) -> list[Request]:
        ids = [r["input_ids"] for r in requests]
        masks = [r.get("attention_mask", np.ones_like(r["input_ids"])) for r in requests]
        types = [r.get("token_type_ids", np.zeros_like(r["input_ids"])) for r in requests]
        with no_grad():
            hidden = self.model(tensor(_pad(ids)), tensor(_pad(masks)), tensor(_pad(types)))
        return [{"last_hidden_state": x} for x in _split(_floats(hidden), ids, cut=True)]


class TextEmbedder(Adapter):
    """SentenceEncoder: text BYTES [-1] (UTF-8) -> embedding FP32 [-1,dim]."""

    kind = "sentence_encoder"

    def __init__(self, encoder: SentenceEncoder):
        self.model = encoder
        self.inputs = (TensorMeta("text", "BYTES", (-1,)),)
        self.outputs = (TensorMeta("embedding", "FP32", (-1, encoder.dim)),)

    def check_values(self, request: Request) -> None:
        for i, b in enumerate(request["text"]):
            if not isinstance(b, bytes):
                raise BadRequest(f"input 'text'[{i}] is {type(b).__name__}, not bytes")
            try:
                b.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"input 'text'[{i}] is not UTF-8") from None

    def run(self, requests: list[Request]) -> list[Request]:
        texts = [r["text"] for r in requests]
        flat = [b.decode("utf-8") for t in texts for b in t]
        emb = self.model.encode(flat, batch_size=max(1, len(flat)))
        return [{"embedding": x} for x in _split(emb, texts, cut=False)]


def load_adapter(folder: Path) -> Adapter:
    """Load the model in ``folder`` (an ember model folder, quantized or pruned ones
    included, or a sentence-transformers folder) and wrap it. ModelFileError /
    ValueError / FileNotFoundError name the folder when it holds neither."""
    if (folder / "modules.json").is_file():
        return TextEmbedder(SentenceEncoder.from_pretrained(folder))
    if not is_model_folder(folder):
        raise FileNotFoundError(f"{folder}: neither config.json (ember) nor modules.json")
    model, doc = load_model(folder)
    kind = doc["architecture"]
    if kind in ("gpt", "char_lstm"):
        return TokenLM(kind, model, doc.get("tokenizer"))
    if kind == "digits_cnn":
        return ImageClassifier(model)
    if kind == "bert":
        return BertEncoder(model)
    raise ModelFileError(folder / "config.json", f"ember serve has no adapter for {kind!r}")
