"""A model folder: ``config.json`` (architecture name, its config, an optional tokenizer)
plus ``model.safetensors`` (the weights). Never pickle. The folder is written next to
its final place and renamed into it, so a crash never leaves a half-written model, and
an existing folder is only replaced once the new one is complete.

>>> save_model(model, "runs/gpt/model", tokenizer={"type": "char", "itos": list(chars)})
>>> model, info = load_model("runs/gpt/model")
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..serialization import (
    ModelFileError,
    check_weights,
    fsync_dir,
    load_weights,
    parse_json,
    save_weights,
)
from .registry import REGISTRY

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT = "ember.model/1"


def _architecture(model: Any) -> str:
    for name, (cls, _) in REGISTRY.items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"ember.models.save_model: {type(model).__name__} is not a registered architecture "
        f"(registered: {', '.join(sorted(REGISTRY))})"
    )


def save_model(
    model: Any, path: str | os.PathLike, *, tokenizer: dict | None = None, meta: dict | None = None
) -> Path:
    """Write ``model`` (a registered architecture with a ``config``) as a model folder."""
    path = Path(path)
    name = _architecture(model)
    doc = {
        "format": FORMAT,
        "architecture": name,
        "config": model.config.to_dict(),
        "tokenizer": tokenizer,
        "meta": meta or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_weights(tmp / WEIGHTS, model)
        (tmp / CONFIG).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_model(path: str | os.PathLike) -> tuple[Any, dict]:
    """Read a model folder: (the model in eval mode, the config document).

    The folder is untrusted input: config.json is parsed and its config validated (types
    and ranges), then the tensor names and shapes that config implies are checked against
    the weights file's header, all before the model is built. Any fault is a
    :class:`~ember.serialization.ModelFileError` naming the file."""
    path = Path(path)
    cfg_file = path / CONFIG
    if not cfg_file.is_file():
        raise FileNotFoundError(f"ember.models.load_model: no {CONFIG} in {path}")
    doc = parse_json(cfg_file, cfg_file.read_bytes(), CONFIG)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(cfg_file, f"not an {FORMAT} config")
    name = doc.get("architecture")
    if not isinstance(name, str) or name not in REGISTRY:
        raise ModelFileError(
            cfg_file,
            f"unknown architecture {name!r} (registered: {', '.join(sorted(REGISTRY))})",
        )
    tokenizer = doc.get("tokenizer")
    if tokenizer is not None and not _is_tokenizer(tokenizer):
        raise ModelFileError(cfg_file, "tokenizer is not a {'type': ..., 'itos': [str]} object")
    cls, config_cls = REGISTRY[name]
    try:
        config = config_cls.from_dict(doc.get("config"))
    except ValueError as e:
        raise ModelFileError(cfg_file, str(e)) from None
    check_weights(path / WEIGHTS, cls.state_shapes(config))
    model = cls(config)
    load_weights(path / WEIGHTS, model)
    return model.eval(), doc


def _is_tokenizer(tok: Any) -> bool:
    if not isinstance(tok, dict) or not isinstance(tok.get("type"), str):
        return False
    itos = tok.get("itos", [])
    return isinstance(itos, list) and all(isinstance(c, str) for c in itos)


def char_tokenizer(itos: list[str]) -> dict:
    """The tokenizer document of a character-level model."""
    return {"type": "char", "itos": list(itos)}


def encode(tokenizer: dict, text: str) -> np.ndarray:
    """Token ids of text under a character tokenizer (ValueError for unknown characters)."""
    stoi = {c: i for i, c in enumerate(tokenizer["itos"])}
    bad = sorted({c for c in text if c not in stoi})
    if bad:
        raise ValueError(f"ember: the prompt has characters the model never saw: {bad!r}")
    return np.asarray([stoi[c] for c in text], dtype=np.int64)


def decode(tokenizer: dict, ids: Any) -> str:
    itos = tokenizer["itos"]
    return "".join(itos[int(i)] for i in np.asarray(ids).reshape(-1))
