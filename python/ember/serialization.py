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
import struct
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors.numpy import save

from .ops.creation import from_numpy
from .tensor import Tensor

__all__ = [
    "ModelFileError",
    "TensorInfo",
    "atomic_write_bytes",
    "check_weights",
    "from_json",
    "fsync_dir",
    "load_tensors",
    "load_weights",
    "parse_json",
    "read_header",
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


class ModelFileError(ValueError):
    """A weights, checkpoint or model-folder file that cannot be loaded. The message names
    the file, the tensor at fault (when one is) and what was expected; ``path`` and
    ``tensor`` hold the first two."""

    def __init__(self, path: str | os.PathLike, reason: str, tensor: str | None = None):
        self.path, self.reason, self.tensor = Path(path), reason, tensor
        at = f" (tensor {tensor!r})" if tensor is not None else ""
        super().__init__(f"ember: can't load {path}{at}: {reason}")

    def __reduce__(self) -> tuple:
        return type(self), (self.path, self.reason, self.tensor)


# safetensors dtype -> (numpy dtype, bytes per element). Files are little-endian. BF16 is
# read as its 16 bits and widened to float32 (exact: numpy has no bfloat16); BOOL is read
# as bytes so that a byte other than 0/1 cannot become an invalid bool.
_DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("u1", 1),
    "U8": ("u1", 1),
    "I8": ("i1", 1),
    "U16": ("<u2", 2),
    "I16": ("<i2", 2),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
    "U32": ("<u4", 4),
    "I32": ("<i4", 4),
    "F32": ("<f4", 4),
    "U64": ("<u8", 8),
    "I64": ("<i8", 8),
    "F64": ("<f8", 8),
}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        dup = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ValueError(f"the key {dup!r} appears twice")
    return out


def parse_json(path: str | os.PathLike, data: bytes | str, what: str) -> Any:
    """JSON from untrusted bytes or text; ModelFileError (naming ``what``) for anything
    but well-formed UTF-8 JSON without duplicate keys, too deep nesting included."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise ModelFileError(path, f"{what} is not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ModelFileError(path, f"{what} is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, duplicate keys, the int-digits limit
        raise ModelFileError(path, f"{what} is not valid JSON ({e})") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor_info(path: Path, name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(
            path, "expected an object with dtype, shape and data_offsets in the header", name
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ModelFileError(
            path, f"dtype {dtype!r} is not supported (supported: {', '.join(_DTYPES)})", name
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
    need = math.prod(shape) * _DTYPES[dtype][1]
    if offsets[1] - offsets[0] != need:
        raise ModelFileError(
            path,
            f"data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes, but {dtype} of "
            f"shape {tuple(shape)} needs {need}",
            name,
        )
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """The validated header of a safetensors file, reading no tensor data: (tensors by
    name, the string metadata, the offset of the data section). Every byte range is
    checked: the tensors tile the data section exactly, which ends at the end of the file,
    so what a header describes is never more than the file holds. ModelFileError
    otherwise."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
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


def _read_array(f: Any, path: Path, name: str, info: TensorInfo, start: int) -> np.ndarray:
    np_dtype = _DTYPES[info.dtype][0]
    try:
        out = np.empty(info.shape, dtype=np_dtype)
    except ValueError:  # an empty shape whose other dims overflow numpy's size
        raise ModelFileError(path, f"shape {info.shape} is too big for an array", name) from None
    f.seek(start + info.begin)
    if f.readinto(out.reshape(-1).view(np.uint8)) != info.end - info.begin:
        raise ModelFileError(path, "the file ended while reading it", name)
    if info.dtype == "BF16":
        return (out.astype(np.uint32) << 16).view(np.float32)
    if info.dtype == "BOOL":
        return out != 0
    return out


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (numpy arrays by name, the metadata header). BF16 tensors
    come back as float32 (exactly). A damaged or unsupported file raises
    :class:`ModelFileError` before any tensor is allocated."""
    path = Path(path)
    infos, meta, start = read_header(path)
    with open(path, "rb") as f:
        arrays = {k: _read_array(f, path, k, infos[k], start) for k in sorted(infos)}
    return arrays, meta


def check_weights(path: str | os.PathLike, expected: Mapping[str, tuple[int, ...]]) -> None:
    """Check a weights file's header against the floating-point tensors a model will
    have (names and shapes), reading no data; ModelFileError listing the first
    differences. Shapes and sizes are thereby known to match the file's size before a
    model of that shape is built."""
    infos = read_header(path)[0]
    problems = [f"missing {k!r} of shape {s}" for k, s in expected.items() if k not in infos]
    problems += [f"unexpected {k!r}" for k in infos if k not in expected]
    for k, info in infos.items():
        if k in expected and info.shape != tuple(expected[k]):
            problems.append(f"{k!r} has shape {info.shape}, expected {tuple(expected[k])}")
        if k in expected and info.dtype not in FLOAT_DTYPES:
            problems.append(f"{k!r} is {info.dtype}, expected one of {', '.join(FLOAT_DTYPES)}")
    if problems:
        first = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ModelFileError(
            path, f"the weights do not match the model's {len(expected)} tensors: {first}{more}"
        )


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
    state = {k: from_numpy(v) for k, v in load_tensors(path)[0].items()}
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


def from_json(obj: Any, where: str = "metadata") -> Any:
    """Undo :func:`to_json`. A tagged form that to_json never writes (``{"__tuple__": 5}``,
    an ndarray of dtype object) is a ValueError naming where it sits."""
    if isinstance(obj, list):
        return [from_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    tag = next(iter(obj), None) if len(obj) == 1 else None
    value = obj[tag] if tag is not None else None
    if tag == "__tuple__":
        return tuple(from_json(_tagged(value, list, where, tag), where))
    if tag == "__items__":
        out = {}
        for i, item in enumerate(_tagged(value, list, where, tag)):
            if not (isinstance(item, list) and len(item) == 2):
                raise ValueError(f"ember: {where}.__items__[{i}] is not a [key, value] pair")
            key = from_json(item[0], f"{where}.__items__[{i}]")
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise ValueError(f"ember: {where}.__items__[{i}] has key {key!r}, not a str or int")
            out[key] = from_json(item[1], f"{where}.{key}")
        return out
    if tag == "__counter__":
        return Counter(_tagged(from_json(value, where), dict, where, tag))
    if tag == "__float__":
        try:
            return float(_tagged(value, str, where, tag))
        except ValueError:
            raise ValueError(f"ember: {where}.__float__ {value!r} is not a float") from None
    if set(obj) == {"__ndarray__", "dtype"}:
        dtype = obj["dtype"]
        if not isinstance(dtype, str) or dtype not in _JSON_ARRAY_DTYPES:
            raise ValueError(f"ember: {where} is an ndarray of dtype {dtype!r}, not a number type")
        try:
            return np.asarray(obj["__ndarray__"], dtype=dtype)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"ember: {where} is not an ndarray of {dtype} ({e})") from None
    return {k: from_json(v, f"{where}.{k}") for k, v in obj.items()}


# The dtypes of arrays that to_json writes (optimizer and RNG states: numbers and bools).
_JSON_ARRAY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
}  # fmt: skip


def _tagged(value: Any, kind: type, where: str, tag: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(
            f"ember: {where}.{tag} must be a {kind.__name__}, got {type(value).__name__}"
        )
    return value
