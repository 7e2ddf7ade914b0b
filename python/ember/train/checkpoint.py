"""Checkpoint files: one safetensors file per checkpoint (never pickle).

Tensors (model weights, optimizer state) are stored under prefixed names
(``model.<name>``, ``optim.<param index>.<key>``); everything else (step, param groups,
scheduler state, RNG states, data position, best metric) is one JSON document in the
safetensors metadata header under the key ``"ember"``. Files are written atomically:
a temp file in the same directory, fsync, ``os.replace``, fsync of the directory, so a
crash leaves either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..tensor import Tensor

FORMAT = "ember.checkpoint/1"


def to_json(obj: Any, where: str = "state") -> Any:
    """A JSON-safe copy of obj: tuples become lists, numpy scalars and 0-d tensors
    numbers, and dict keys strings (int keys are tagged so they round-trip)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, np.generic):
        return to_json(obj.item(), where)
    if isinstance(obj, Tensor) and obj.numel() == 1 and obj.ndim == 0:
        return to_json(obj.item(), where)
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (list, tuple)):
        out = [to_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return {"__tuple__": out} if isinstance(obj, tuple) else out
    if isinstance(obj, Counter):
        return {"__counter__": to_json(dict(obj), where)}
    if isinstance(obj, dict):
        for k in obj:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"ember.train: can't save {where}: key {k!r} is not a str or int")
        if all(isinstance(k, str) for k in obj):
            return {k: to_json(v, f"{where}.{k}") for k, v in obj.items()}
        keys = [[to_json(k), to_json(v, f"{where}.{k}")] for k, v in obj.items()]
        return {"__items__": keys}
    raise TypeError(
        f"ember.train: can't save {where}: a {type(obj).__name__} is not JSON data (checkpoints "
        "hold tensors and JSON, never pickled objects)"
    )


def from_json(obj: Any) -> Any:
    """Undo :func:`to_json`."""
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if isinstance(obj, dict):
        if "__tuple__" in obj and len(obj) == 1:
            return tuple(from_json(v) for v in obj["__tuple__"])
        if "__items__" in obj and len(obj) == 1:
            return {from_json(k): from_json(v) for k, v in obj["__items__"]}
        if "__counter__" in obj and len(obj) == 1:
            return Counter(from_json(obj["__counter__"]))
        if "__float__" in obj and len(obj) == 1:
            return float(obj["__float__"])
        if "__ndarray__" in obj and set(obj) == {"__ndarray__", "dtype"}:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: from_json(v) for k, v in obj.items()}
    return obj


def _numpy(t: Tensor) -> np.ndarray:
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    if t.dtype.name == "bfloat16":  # numpy has no bfloat16: keep the raw bits
        raise TypeError("ember.train: bfloat16 tensors in checkpoints are not supported yet")
    return np.require(np.asarray(t), requirements="C")


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write data to path atomically (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def save_file(
    path: str | os.PathLike, tensors: dict[str, Tensor | np.ndarray], meta: dict[str, Any]
) -> Path:
    """Atomically write tensors + a JSON metadata document as one safetensors file."""
    from safetensors.numpy import save

    arrays = {k: v if isinstance(v, np.ndarray) else _numpy(v) for k, v in tensors.items()}
    header = {"format": FORMAT, "ember": json.dumps(to_json(meta, "metadata"))}
    return atomic_write_bytes(path, save(arrays, metadata=header))


def load_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_file`: (numpy arrays by name, metadata)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ember.train: no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"ember.train: {path} is not a readable checkpoint ({e})") from None
    if header.get("format") != FORMAT or "ember" not in header:
        raise ValueError(f"ember.train: {path} is not an ember checkpoint (format {FORMAT})")
    return arrays, from_json(json.loads(header["ember"]))


def save_weights(path: str | os.PathLike, model: Any, meta: dict[str, Any] | None = None) -> Path:
    """A model's state_dict as a plain safetensors file (atomic)."""
    from safetensors.numpy import save

    arrays = {k: _numpy(v) for k, v in model.state_dict().items()}
    header = {"format": "ember.weights/1"}
    if meta:
        header["ember"] = json.dumps(to_json(meta, "metadata"))
    return atomic_write_bytes(path, save(arrays, metadata=header))


def load_weights(path: str | os.PathLike, model: Any, strict: bool = True) -> Any:
    """Load a safetensors weights file (from :func:`save_weights`) into model."""
    from safetensors.numpy import load_file as _load

    from ..ops.creation import from_numpy

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ember.train: no weights file at {path}")
    state = {k: from_numpy(np.require(v, requirements="C")) for k, v in _load(str(path)).items()}
    return model.load_state_dict(state, strict=strict)
