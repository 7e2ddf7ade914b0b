"""What a served model declares: its tensors (TensorMeta) and its serving settings
(ServingConfig, read strictly from ``<repo>/<name>/serving.json``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .datatypes import DATATYPES

# Generous ceilings: a serving.json is trusted config, but a typo must not ask for a
# million threads or a queue that never bounds anything.
MAX_BATCH = 1 << 16
MAX_QUEUE = 1 << 20
MAX_INSTANCES = 64
MAX_DELAY_MS = 60_000.0
MAX_DIM = 1 << 20  # a fixed dim in a declared shape


@dataclass(frozen=True)
class TensorMeta:
    """One input or output: its name, v2 datatype and shape (-1 = any size; the first
    dim is the batch dim when the model batches)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict:
        """The v2 metadata form: {"name", "datatype", "shape": list}."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ServingConfig:
    """How one model is served: rows merged per batch, how long the first request of a
    batch may wait for others, how many requests may queue, how many batches run at
    once, and (when the model's own can't be derived or should be narrowed) its tensors.
    """

    max_batch_size: int = 32
    max_queue_delay_ms: float = 2.0
    max_queue_size: int = 256
    instance_count: int = 1
    inputs: tuple[TensorMeta, ...] | None = None
    outputs: tuple[TensorMeta, ...] | None = None

    @classmethod
    def read(cls, path: Path) -> ServingConfig:
        """Parse a serving.json; ValueError naming the file and the key for anything
        unknown, mistyped or out of range."""
        try:
            doc = json.loads(Path(path).read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a readable JSON file ({e})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(
                f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {}
        for key, lo, hi in (
            ("max_batch_size", 1, MAX_BATCH),
            ("max_queue_size", 1, MAX_QUEUE),
            ("instance_count", 1, MAX_INSTANCES),
        ):
            if key in doc:
                values[key] = _int(path, key, doc[key], lo, hi)
        if "max_queue_delay_ms" in doc:
            v = doc["max_queue_delay_ms"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{path}: max_queue_delay_ms must be a number, got {v!r}")
            if not 0 <= v <= MAX_DELAY_MS:
                raise ValueError(f"{path}: max_queue_delay_ms must be in [0, {MAX_DELAY_MS:g}]")
            values["max_queue_delay_ms"] = float(v)
        for key in ("inputs", "outputs"):
            if key in doc:
                values[key] = _tensors(path, key, doc[key])
        return cls(**values)


def _int(path: Path, key: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{path}: {key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _tensors(path: Path, key: str, doc: Any) -> tuple[TensorMeta, ...]:
    if not isinstance(doc, list) or not doc:
        raise ValueError(f"{path}: {key} must be a non-empty list of tensors")
    out = []
    for i, t in enumerate(doc):
        where = f"{path}: {key}[{i}]"
        if not isinstance(t, dict) or set(t) != {"name", "datatype", "shape"}:
            raise ValueError(f'{where} must be an object with exactly "name", "datatype", "shape"')
        name, datatype, shape = t["name"], t["datatype"], t["shape"]
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name must be a non-empty string")
        if datatype not in DATATYPES:
            raise ValueError(f"{where}.datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d == -1 or 1 <= d <= MAX_DIM)
            for d in shape
        ):
            raise ValueError(f"{where}.shape must be a list of -1 or positive integers")
        out.append(TensorMeta(name, datatype, tuple(shape)))
    if len({t.name for t in out}) != len(out):
        raise ValueError(f"{path}: {key} names a tensor twice")
    return tuple(out)
