"""The safetensors format, read and written by ember itself: an 8-byte little-endian
header length, a JSON header (dtype, shape and byte range of every tensor, plus string
``__metadata__``), then the raw little-endian data. Reading trusts nothing in the file:
the header is validated (:func:`read_header`) before any tensor exists, and tensors are
views of one buffer the size of the data section (read into memory, or mapped
copy-on-write with ``mmap=True``), so a file can never make ember allocate more than
its own size."""

from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from .. import _dtype as D
from ..ops.creation import from_numpy
from ..tensor import Tensor
from .errors import ModelFileError
from .jsonvalue import parse_json


class FileDtype(NamedTuple):
    """A safetensors dtype: how its bytes read in numpy, and the ember dtype it loads as
    (wider where ember lacks the type: the widening is exact)."""

    numpy: str
    size: int
    ember: D.dtype


# BF16 is read as float16 bits and bit-cast (numpy has no bfloat16); BOOL is read as
# bytes, so that a byte other than 0/1 cannot become an invalid bool.
DTYPES: dict[str, FileDtype] = {
    "BOOL": FileDtype("u1", 1, D.bool_),
    "U8": FileDtype("u1", 1, D.int32),
    "I8": FileDtype("i1", 1, D.int8),
    "U16": FileDtype("<u2", 2, D.int32),
    "I16": FileDtype("<i2", 2, D.int32),
    "F16": FileDtype("<f2", 2, D.float16),
    "BF16": FileDtype("<f2", 2, D.bfloat16),
    "U32": FileDtype("<u4", 4, D.int64),
    "I32": FileDtype("<i4", 4, D.int32),
    "F32": FileDtype("<f4", 4, D.float32),
    "U64": FileDtype("<u8", 8, D.int64),
    "I64": FileDtype("<i8", 8, D.int64),
    "F64": FileDtype("<f8", 8, D.float64),
}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
_FILE_DTYPE = {
    D.bool_: "BOOL", D.int8: "I8", D.int32: "I32", D.int64: "I64", D.float16: "F16",
    D.bfloat16: "BF16", D.float32: "F32", D.float64: "F64",
}  # fmt: skip


def file_dtype(t: Tensor) -> str:
    """The safetensors dtype name ("F32", "I8", ...) a tensor is written as."""
    return _FILE_DTYPE[t.dtype]


# safetensors' own bound on the header: the JSON is parsed before anything is trusted.
MAX_HEADER_BYTES = 100_000_000
MAX_NDIM = 32  # what numpy (1.x) can hold; a tensor of more dims is empty or unrealistic


class TensorInfo(NamedTuple):
    """One tensor of a safetensors header: its dtype name, shape and byte range in the
    data section."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


Header = tuple[dict[str, TensorInfo], dict[str, str], int]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor_info(path: Path, name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(
            path, "expected an object with dtype, shape and data_offsets in the header", name
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ModelFileError(
            path, f"dtype {dtype!r} is not supported (supported: {', '.join(DTYPES)})", name
        )
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(_is_int(d) and 0 <= d < 2**63 for d in shape)
    ):
        raise ModelFileError(
            path, f"shape {shape!r} is not a list of at most {MAX_NDIM} int64 sizes >= 0", name
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise ModelFileError(path, f"data_offsets {offsets!r} is not [begin, end]", name)
    need = math.prod(shape) * DTYPES[dtype].size
    if offsets[1] - offsets[0] != need:
        raise ModelFileError(
            path,
            f"data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes, but {dtype} of "
            f"shape {tuple(shape)} needs {need}",
            name,
        )
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def _parse_header(path: Path, f: BinaryIO, size: int) -> Header:
    """The validated header of the file ``f`` of ``size`` bytes (positioned at 0)."""
    if size < 8:
        raise ModelFileError(path, f"{size} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > min(MAX_HEADER_BYTES, size - 8):
        raise ModelFileError(
            path,
            f"the header length {n} exceeds the file ({size} bytes) or the "
            f"{MAX_HEADER_BYTES}-byte limit",
        )
    raw = f.read(n)
    if len(raw) != n:
        raise ModelFileError(path, "the file ended inside the header")
    doc = parse_json(path, raw, "the safetensors header")
    if not isinstance(doc, dict):
        raise ModelFileError(path, "the safetensors header is not a JSON object")
    meta = doc.pop("__metadata__", None)
    meta = {} if meta is None else meta
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(path, "__metadata__ is not an object of strings")
    infos = {name: _tensor_info(path, name, entry) for name, entry in doc.items()}
    at = 0
    for name, info in sorted(infos.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if info.begin != at:
            gap = "overlaps the tensor before it" if info.begin < at else "leaves a gap"
            raise ModelFileError(path, f"data_offsets [{info.begin}, {info.end}] {gap}", name)
        at = info.end
    if at != size - 8 - n:
        raise ModelFileError(
            path,
            f"the tensors cover {at} bytes of data, the file holds {size - 8 - n} "
            "(truncated or padded)",
        )
    return infos, meta, 8 + n


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading: a FIFO or device could block (even in open,
    hence O_NONBLOCK, which regular files ignore) or never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelFileError(path, "not a regular file")
    return os.fdopen(fd, "rb")


def read_header(path: str | os.PathLike) -> Header:
    """The validated header of a safetensors file, reading no tensor data: (tensors by
    name, the string metadata, the offset of the data section). Every byte range is
    checked: the tensors tile the data section exactly, which ends at the end of the file,
    so what a header describes is never more than the file holds. ModelFileError
    otherwise."""
    path = Path(path)
    with _open_regular(path) as f:
        return _parse_header(path, f, os.fstat(f.fileno()).st_size)


def read_file(
    source: str | os.PathLike | BinaryIO, mmap: bool = False
) -> tuple[Header, np.ndarray, Path]:
    """(header, the data section as a uint8 array, the path for messages) of a file
    path or an open binary file. The data is read into one writable buffer, or with
    ``mmap=True`` mapped copy-on-write (pages load on first use; writes stay private,
    the file never changes)."""
    if hasattr(source, "read"):
        path = Path(str(getattr(source, "name", "<file object>")))
        if mmap:
            raise ValueError("ember.load: mmap=True needs a path, not a file object")
        blob = source.read()
        if not isinstance(blob, bytes):
            raise TypeError("ember.load: the file object must be opened in binary mode")
        buf = io.BytesIO(blob)
        header = _parse_header(path, buf, len(blob))
        return header, np.frombuffer(bytearray(blob[header[2] :]), np.uint8), path
    path = Path(source)
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        header = _parse_header(path, f, size)
        start = header[2]
        if size == start:
            return header, np.zeros(0, np.uint8), path
        if mmap:
            return header, np.memmap(f, np.uint8, "c", start, (size - start,)), path
        data = np.empty(size - start, np.uint8)
        f.seek(start)
        if f.readinto(data) != size - start:
            raise ModelFileError(path, "the file changed size while being read")
        return header, data, path


def raw_array(path: Path, name: str, info: TensorInfo, data: np.ndarray) -> np.ndarray:
    """The tensor's bytes as a numpy array of its file dtype (BF16 as float16 bits, BOOL
    as bytes): a view of ``data``, or an aligned copy if the file misaligns it."""
    fd = DTYPES[info.dtype]
    raw = data[info.begin : info.end]
    if raw.ctypes.data % fd.size:
        raw = raw.copy()
    try:
        return raw.view(fd.numpy).reshape(info.shape)
    except ValueError:  # an empty shape whose other dims overflow numpy's size
        raise ModelFileError(path, f"shape {info.shape} is too big for an array", name) from None


def tensor_from(path: Path, name: str, info: TensorInfo, data: np.ndarray) -> Tensor:
    """The tensor ``name`` as an ember tensor sharing ``data``'s memory where the dtype
    allows (always for ember's own dtypes)."""
    arr = raw_array(path, name, info, data)
    fd = DTYPES[info.dtype]
    if info.dtype == "BOOL":
        return from_numpy(arr != 0 if (arr > 1).any() else arr.view(np.bool_))
    if info.dtype == "BF16":
        return from_numpy(arr).view(D.bfloat16)
    if info.dtype == "U64" and arr.size and int(arr.max()) >= 2**63:
        raise ModelFileError(path, "U64 values beyond int64 have no ember dtype", name)
    if arr.dtype != fd.ember.numpy_dtype:
        arr = arr.astype(fd.ember.numpy_dtype)  # exact widening
    return from_numpy(arr)


def numpy_from(path: Path, name: str, info: TensorInfo, data: np.ndarray) -> np.ndarray:
    """The tensor ``name`` as a numpy array; BF16 widens (exactly) to float32."""
    arr = raw_array(path, name, info, data)
    if info.dtype == "BF16":
        return (arr.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    if info.dtype == "BOOL":
        return arr != 0
    return arr


def _contiguous_bytes(value: Tensor | np.ndarray) -> tuple[str, tuple[int, ...], np.ndarray]:
    """(file dtype, shape, a C-contiguous numpy array holding the bytes)."""
    if isinstance(value, np.ndarray):
        t = from_numpy(np.ascontiguousarray(value)) if value.dtype.isnative else None
        if t is None:
            raise TypeError("ember.save: non-native byte order arrays are not supported")
        value = t
    t = value.detach()
    if t.is_cuda:
        t = t.cpu()
    file_dtype = _FILE_DTYPE[t.dtype]
    if t.dtype is D.bfloat16:
        t = t.view(D.float16)  # same bits: numpy has no bfloat16
    return file_dtype, tuple(t.shape), np.ascontiguousarray(np.asarray(t))


def write_file(
    f: BinaryIO, tensors: Mapping[str, Tensor | np.ndarray], metadata: Mapping[str, str]
) -> None:
    """Write a safetensors file to ``f``: widest dtypes first, so every tensor is aligned
    to its element size; the header is padded to 8 bytes, as the format recommends."""
    items = [(name, *_contiguous_bytes(v)) for name, v in tensors.items()]
    items.sort(key=lambda it: -DTYPES[it[1]].size)  # stable: keeps the caller's order
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    at = 0
    for name, dtype, shape, arr in items:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + arr.nbytes]}
        at += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for *_, arr in items:
        if arr.nbytes:
            f.write(arr.reshape(-1).view(np.uint8).data)
