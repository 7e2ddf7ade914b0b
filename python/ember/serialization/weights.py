"""Named tensors as safetensors files: write them, read them back as numpy arrays,
check a file against the tensors a model will have, and a model's weights to and from
a plain weights file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._device import CPU
from ..tensor import Tensor
from .atomic import atomic_write
from .errors import ModelFileError
from .jsonvalue import to_json
from .safetensors_file import FLOAT_DTYPES, numpy_from, read_file, read_header, write_file
from .state import load_state


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, Tensor | np.ndarray],
    header: dict[str, str] | None = None,
) -> Path:
    """Atomically write named tensors (CPU or CUDA, any ember dtype, or numpy arrays) as
    one safetensors file with string metadata ``header``."""
    return atomic_write(path, lambda f: write_file(f, tensors, header or {}))


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (numpy arrays by name, the metadata header). BF16 tensors
    come back as float32 (exactly). A damaged or unsupported file raises
    :class:`ModelFileError` before any tensor is allocated."""
    (infos, meta, _), data, path = read_file(path)
    return {k: numpy_from(path, k, infos[k], data) for k in sorted(infos)}, meta


class TensorSpec(NamedTuple):
    """A non-floating tensor a model will have: its shape and file dtype (e.g. a
    BatchNorm's ``num_batches_tracked``: ``TensorSpec((), "I64")``)."""

    shape: tuple[int, ...]
    dtype: str


def check_weights(
    path: str | os.PathLike, expected: Mapping[str, tuple[int, ...] | TensorSpec]
) -> None:
    """Check a weights file's header against the tensors a model will have (name ->
    shape for a floating-point tensor, or a :class:`TensorSpec` for another dtype),
    reading no data; ModelFileError listing the first differences. Shapes and sizes are
    thereby known to match the file's size before a model of that shape is built."""
    infos = read_header(path)[0]
    missing = [k for k in expected if k not in infos]
    problems = [f"missing {k!r} of shape {_shape(expected[k])}" for k in missing]
    problems += [f"unexpected {k!r}" for k in infos if k not in expected]
    for k, info in infos.items():
        if k not in expected:
            continue
        want = expected[k]
        dtypes = (want.dtype,) if isinstance(want, TensorSpec) else FLOAT_DTYPES
        if info.shape != _shape(want):
            problems.append(f"{k!r} has shape {info.shape}, expected {_shape(want)}")
        if info.dtype not in dtypes:
            problems.append(f"{k!r} is {info.dtype}, expected {' or '.join(dtypes)}")
    if problems:
        first = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ModelFileError(
            path, f"the weights do not match the model's {len(expected)} tensors: {first}{more}"
        )


def _shape(spec: tuple[int, ...] | TensorSpec) -> tuple[int, ...]:
    return tuple(spec.shape if isinstance(spec, TensorSpec) else spec)


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
    return model.load_state_dict(load_state(path, dev=CPU), strict=strict)
