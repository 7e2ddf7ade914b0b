"""The KServe v2 (Open Inference Protocol) tensor datatypes and their numpy dtypes.
BYTES tensors are numpy object arrays of ``bytes``."""

from __future__ import annotations

import numpy as np

from .errors import BadRequest

_NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_NAMES = {dt: name for name, dt in _NUMPY.items()}

DATATYPES: tuple[str, ...] = tuple(_NUMPY)


def to_numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a v2 datatype name (BadRequest for names ember does not serve)."""
    if name not in _NUMPY:
        raise BadRequest(f"unsupported datatype {name!r} (supported: {', '.join(DATATYPES)})")
    return _NUMPY[name]


def from_numpy_dtype(dtype: np.dtype | type) -> str:
    """The v2 datatype name of a numpy dtype (object and bytes arrays are BYTES)."""
    dt = np.dtype(dtype)
    if dt.kind == "S":
        return "BYTES"
    if dt not in _NAMES:
        raise BadRequest(f"numpy dtype {dt} has no v2 datatype")
    return _NAMES[dt]


def element_size(name: str) -> int | None:
    """Bytes per element of a v2 datatype; None for BYTES (variable length)."""
    dt = to_numpy_dtype(name)
    return None if dt.kind == "O" else dt.itemsize
