"""Weight files: safetensors on disk, written atomically, never pickle.

A file is written to a temp file in its directory, fsynced, renamed over the target
and the directory fsynced, so a crash leaves the old file or the new one, never a
torn one. Metadata is JSON (see :func:`to_json`) in the safetensors header.

>>> save_tensors("w.safetensors", {"w": ember.ones(2)}, {"format": "mine/1"})
>>> arrays, header = load_tensors("w.safetensors")
>>> save_weights("model.safetensors", model); load_weights("model.safetensors", model)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save

from .ops.creation import from_numpy
from .tensor import Tensor

__all__ = [
    "atomic_write_bytes",
    "from_json",
    "fsync_dir",
    "load_tensors",
    "load_weights",
    "save_tensors",
    "save_weights",
    "to_json",
]


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


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, Tensor | np.ndarray],
    header: dict[str, str] | None = None,
) -> Path:
    """Atomically write named tensors (CPU or CUDA, or numpy arrays) as one safetensors
    file with string metadata ``header``."""
    arrays = {k: v if isinstance(v, np.ndarray) else _to_numpy(v) for k, v in tensors.items()}
    return atomic_write_bytes(path, save(arrays, metadata=header))


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (numpy arrays by name, the metadata header).

    Errors from a damaged file are safetensors' own; callers name the file kind."""
    with safe_open(str(path), framework="numpy") as f:
        header = f.metadata() or {}
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    return arrays, header


def save_weights(path: str | os.PathLike, model: Any, meta: dict[str, Any] | None = None) -> Path:
    """A model's state_dict as a plain safetensors file (atomic)."""
    header = {"format": "ember.weights/1"}
    if meta:
        header["ember"] = json.dumps(to_json(meta, "metadata"))
    return save_tensors(path, model.state_dict(), header)


def load_weights(path: str | os.PathLike, model: Any, strict: bool = True) -> Any:
    """Load a safetensors weights file (from :func:`save_weights`) into model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ember.train: no weights file at {path}")
    state = {
        k: from_numpy(np.require(v, requirements="C")) for k, v in load_numpy(str(path)).items()
    }
    return model.load_state_dict(state, strict=strict)


def _to_numpy(t: Tensor) -> np.ndarray:
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    if t.dtype.name == "bfloat16":  # numpy has no bfloat16: keep the raw bits
        raise TypeError("ember.train: bfloat16 tensors in checkpoints are not supported yet")
    return np.require(np.asarray(t), requirements="C")


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
