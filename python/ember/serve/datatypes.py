"""KServe v2 datatype names and their numpy dtypes (BYTES: object arrays of ``bytes``)."""

from __future__ import annotations

import numpy as np

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
_NAMES = {dt: name for name, dt in _NUMPY.items() if name != "BYTES"}

DATATYPES: tuple[str, ...] = tuple(_NUMPY)


def to_numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of v2 datatype ``name``; ValueError for an unknown name."""
    try:
        return _NUMPY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown datatype {name!r} (one of {', '.join(DATATYPES)})") from None


def from_numpy_dtype(dtype: np.dtype) -> str:
    """The v2 datatype name of a numpy dtype (object and bytes/str arrays: BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _NAMES[dtype.newbyteorder("=")]
    except KeyError:
        raise ValueError(f"no v2 datatype for numpy dtype {dtype}") from None


def element_size(name: str) -> int | None:
    """Bytes per element of ``name`` in the binary tensor format (None for BYTES)."""
    dt = to_numpy_dtype(name)
    return None if name == "BYTES" else dt.itemsize
