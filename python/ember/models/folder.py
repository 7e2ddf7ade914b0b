"""A model folder: ``config.json`` (architecture name, its config, an optional tokenizer)
plus ``model.safetensors`` (the weights). Never pickle. The folder is written next to
its final place and renamed into it, so a crash never leaves a half-written model, and
an existing folder is only replaced once the new one is complete.

>>> save_model(model, "runs/gpt/model", tokenizer={"type": "char", "itos": list(chars)})
>>> model, info = load_model("runs/gpt/model")
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .._config import VERSION as EMBER_VERSION
from ..nn.init import no_init
from ..serialization import (
    ModelFileError,
    TensorSpec,
    atomic_folder,
    check_weights,
    existing_folder,
    file_dtype,
    load_state,
    parse_device,
    parse_dtype,
    parse_json,
    version_skew,
    write_durable,
    write_file,
)
from . import transforms
from .registry import REGISTRY

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT_NAME = "ember.model"
# 2 added dtype, ember_version and weights_sha256; 3 added transforms (written only when a
# model has some, so plain folders stay readable by ember versions that know 2).
VERSION = 3
FORMAT = f"{FORMAT_NAME}/{VERSION}"


def _architecture(model: Any) -> str:
    for name, (cls, _) in REGISTRY.items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"ember.models.save_model: {type(model).__name__} is not a registered architecture "
        f"(registered: {', '.join(sorted(REGISTRY))})"
    )


def is_registered(model: Any) -> bool:
    """True for an instance of an architecture in :data:`REGISTRY` (saved as a folder)."""
    return any(type(model) is cls for cls, _ in REGISTRY.values())


def is_model_folder(path: str | os.PathLike) -> bool:
    """True for a folder holding a config.json (or one an interrupted save left aside)."""
    return (existing_folder(Path(path)) / CONFIG).is_file()


class _HashingWriter:
    """A file wrapper that hashes what is written through it."""

    def __init__(self, f: BinaryIO):
        self.f, self.sha = f, hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha.update(data)
        return self.f.write(data)


def _weights_dtype(state: dict) -> str:
    """The dtype name of the floating weights ("mixed" when they differ)."""
    names = Counter(t.dtype.name for t in state.values() if t.dtype.is_floating_point)
    return next(iter(names)) if len(names) == 1 else ("mixed" if names else "none")


def save_model(
    model: Any, path: str | os.PathLike, *, tokenizer: dict | None = None, meta: dict | None = None
) -> Path:
    """Write ``model`` (a registered architecture with a ``config``) as a model folder:
    config.json records the architecture, its config, the weights' dtype, the ember
    version and the sha256 of model.safetensors, which load_model verifies."""
    name = _architecture(model)
    state = model.state_dict()
    history = transforms.recorded(model)
    _check_loadable(model, state, history)

    def fill(tmp: Path) -> None:
        hashing: list[_HashingWriter] = []

        def write_weights(f: BinaryIO) -> None:
            hashing.append(_HashingWriter(f))
            write_file(hashing[0], state, {"format": "ember.weights/1"})  # type: ignore[arg-type]

        write_durable(tmp / WEIGHTS, write_weights)
        doc = {
            "format": f"{FORMAT_NAME}/{3 if history else 2}",
            "architecture": name,
            "config": model.config.to_dict(),
            "dtype": _weights_dtype(state),
            "ember_version": EMBER_VERSION,
            "weights_sha256": hashing[0].sha.hexdigest(),
            "tokenizer": tokenizer,
            "meta": meta or {},
        }
        if history:
            doc["transforms"] = history
        text = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        write_durable(tmp / CONFIG, lambda f: f.write(text))

    return atomic_folder(path, fill)


def _read_config(cfg_file: Path) -> dict:
    doc = parse_json(cfg_file, cfg_file.read_bytes(), CONFIG)
    fmt = doc.get("format") if isinstance(doc, dict) else None
    m = re.fullmatch(rf"{re.escape(FORMAT_NAME)}/(\d+)", fmt) if isinstance(fmt, str) else None
    if m is None or int(m.group(1)) < 1:
        raise ModelFileError(cfg_file, f"not an {FORMAT_NAME} config (format {fmt!r})")
    if int(m.group(1)) > VERSION:
        raise ModelFileError(cfg_file, version_skew(fmt, doc.get("ember_version"), FORMAT))
    if int(m.group(1)) >= 2 and not re.fullmatch(r"[0-9a-f]{64}", str(doc.get("weights_sha256"))):
        raise ModelFileError(cfg_file, "weights_sha256 is not a sha256 hex digest")
    return doc


def _verify_sha256(weights: Path, expected: str) -> None:
    if not weights.is_file():
        raise ModelFileError(weights, "the weights file is missing")
    sha = hashlib.sha256()
    with open(weights, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    got = sha.hexdigest()
    if got != expected:
        raise ModelFileError(
            weights,
            f"sha256 {got} does not match {expected} recorded in {CONFIG} (the file was "
            "changed or damaged)",
        )


def _shell(cls: Any, config: Any, history: list[dict]) -> Any:
    """``cls(config)`` without random init, with ``history`` replayed on it."""
    with no_init():
        model = cls(config)
    transforms.replay(model, history)
    return model


def _state_spec(state: dict[str, Any]) -> dict[str, Any]:
    """Name -> shape (floating) or TensorSpec (other dtypes) of a state_dict."""
    return {
        k: tuple(t.shape) if t.dtype.is_floating_point else TensorSpec(t.shape, file_dtype(t))
        for k, t in state.items()
    }


def _expected_state(cls: Any, config: Any, history: list[dict]) -> dict[str, Any]:
    """What a folder's weights must hold: from the config alone, or, when transforms
    changed the structure, from a shell model (built without init, so its memory is never
    touched)."""
    if not history:
        return cls.state_shapes(config)
    return _state_spec(_shell(cls, config, history).state_dict())


def _check_loadable(model: Any, state: dict[str, Any], history: list[dict]) -> None:
    """ValueError unless the state is what the config and the recorded transforms
    describe (names and shapes), so a folder is never written that load_model would
    refuse (a model changed by hand, say)."""
    expected = _expected_state(type(model), model.config, history)
    shapes = {k: tuple(getattr(v, "shape", v)) for k, v in expected.items()}
    problems = [k for k in state if k not in shapes or tuple(state[k].shape) != shapes[k]]
    problems += [k for k in shapes if k not in state]
    if problems:
        raise ValueError(
            f"ember.save: this {type(model).__name__}'s tensors no longer match its config "
            f"(first: {problems[0]!r}), so the folder could not be loaded back; change "
            "models through ember.prune / ember.quant (they record what they did), or save "
            "the state_dict() instead (after ember.prune.remove() for masks)"
        )


def load_model(
    path: str | os.PathLike,
    *,
    mmap: bool = False,
    dtype: Any = None,
    map_location: Any = None,
) -> tuple[Any, dict]:
    """Read a model folder: (the model in eval mode, the config document).

    The folder is untrusted input: config.json is parsed and its config validated (types
    and ranges), the tensor names and shapes that config implies are checked against the
    weights file's header, and the weights' sha256 against config.json (folders of
    format 2), all before the model is built. Any fault is a
    :class:`~ember.serialization.ModelFileError` naming the file.

    The model is built without random init and its parameters take the loaded tensors'
    memory: with ``mmap=True`` they are pages of the mapped file (copy-on-write: training
    works and the file never changes). ``dtype`` converts the floating weights;
    ``map_location`` moves them (see :func:`ember.load`)."""
    target_dtype, dev = parse_dtype(dtype), parse_device(map_location)
    path = existing_folder(Path(path))
    cfg_file = path / CONFIG
    if not cfg_file.is_file():
        raise FileNotFoundError(f"ember.models.load_model: no {CONFIG} in {path}")
    doc = _read_config(cfg_file)
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
    history = doc.get("transforms", [])
    if not history:  # checked before anything is allocated
        check_weights(path / WEIGHTS, cls.state_shapes(config))
    try:
        model = _shell(cls, config, history)
    except ValueError as e:
        raise ModelFileError(cfg_file, str(e)) from None
    except MemoryError:
        raise ModelFileError(cfg_file, "the config describes tensors too large to build") from None
    if history:  # the shell's memory is untouched until the weights replace it
        check_weights(path / WEIGHTS, _state_spec(model.state_dict()))
    if "weights_sha256" in doc:
        _verify_sha256(path / WEIGHTS, doc["weights_sha256"])
    state = load_state(path / WEIGHTS, mmap=mmap, dtype=target_dtype, dev=dev)
    model.load_state_dict(state, assign=True)
    # Tensors outside the state (non-persistent buffers) follow the weights.
    floats = {t.dtype for t in state.values() if t.dtype.is_floating_point}
    if target_dtype is None and len(floats) == 1:
        target_dtype = floats.pop()
    model.to(dev) if target_dtype is None else model.to(dev, target_dtype)
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
