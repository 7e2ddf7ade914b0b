"""Checkpoint files: one safetensors file per checkpoint (never pickle).

Tensors (model weights, optimizer state) are stored under prefixed names
(``model.<name>``, ``optim.<param index>.<key>``); everything else (step, param groups,
scheduler state, RNG states, data position, best metric) is one JSON document in the
safetensors metadata header under the key ``"ember"``. Files are written atomically by
:mod:`ember.serialization`, which also writes the plain weight files (``save_weights``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..serialization import (
    ModelFileError,
    from_json,
    load_tensors,
    load_weights,
    parse_json,
    save_tensors,
    save_weights,
    to_json,
)
from ..tensor import Tensor

__all__ = ["from_json", "load_file", "load_weights", "save_file", "save_weights", "to_json"]

FORMAT = "ember.checkpoint/1"


def save_file(
    path: str | os.PathLike, tensors: dict[str, Tensor | np.ndarray], meta: dict[str, Any]
) -> Path:
    """Atomically write tensors + a JSON metadata document as one safetensors file."""
    header = {"format": FORMAT, "ember": json.dumps(to_json(meta, "metadata"))}
    return save_tensors(path, tensors, header)


def load_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_file`: (numpy arrays by name, metadata).
    A damaged file or metadata raises :class:`~ember.serialization.ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ember.train: no checkpoint at {path}")
    try:
        arrays, header = load_tensors(path)
    except ModelFileError as e:
        raise ModelFileError(path, f"not a readable checkpoint ({e.reason})", e.tensor) from None
    if header.get("format") != FORMAT or "ember" not in header:
        raise ModelFileError(path, f"not an ember checkpoint (format {FORMAT})")
    doc = parse_json(path, header["ember"], "the checkpoint metadata")
    try:
        meta = from_json(doc)
    except RecursionError:
        raise ModelFileError(path, "the checkpoint metadata is nested too deeply") from None
    except ValueError as e:
        raise ModelFileError(path, f"bad checkpoint metadata: {e}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(path, "the checkpoint metadata is not an object")
    return arrays, meta
