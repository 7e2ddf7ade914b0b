"""JSON for metadata: parsing untrusted bytes strictly, and a tagged encoding of Python
values (tuples, int dict keys, non-finite floats, small arrays, tensor references) that
round-trips exactly."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .errors import ModelFileError

# (tensor, where it sits) -> the name the tensor is stored under
TensorHook = Callable[[Tensor, str], str]


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


def to_json(obj: Any, where: str = "state", tensor: TensorHook | None = None) -> Any:
    """A JSON-safe copy of obj: tuples become lists, numpy scalars and 0-d tensors
    numbers, and dict keys strings (int keys are tagged so they round-trip). With
    ``tensor``, every tensor becomes ``{"__tensor__": tensor(t, where)}`` instead (the
    name under which the caller stores it). Other types: TypeError naming ``where``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, np.generic):
        return to_json(obj.item(), where, tensor)
    if isinstance(obj, Tensor) and tensor is not None:
        return {"__tensor__": tensor(obj, where)}
    if isinstance(obj, Tensor) and obj.numel() == 1 and obj.ndim == 0:
        return to_json(obj.item(), where, tensor)
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (list, tuple)):
        out = [to_json(v, f"{where}[{i}]", tensor) for i, v in enumerate(obj)]
        return {"__tuple__": out} if isinstance(obj, tuple) else out
    if isinstance(obj, Counter):
        return {"__counter__": to_json(dict(obj), where, tensor)}
    if isinstance(obj, dict):
        for k in obj:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"ember.save: can't save {where}: key {k!r} is not a str or int")
        if all(isinstance(k, str) for k in obj):
            return {k: to_json(v, f"{where}.{k}", tensor) for k, v in obj.items()}
        keys = [[to_json(k), to_json(v, f"{where}.{k}", tensor)] for k, v in obj.items()]
        return {"__items__": keys}
    raise TypeError(
        f"ember.save: can't save {where}: a {type(obj).__name__} is not a tensor or JSON data "
        "(ember files hold tensors and JSON, never pickled objects)"
    )


def from_json(obj: Any, where: str = "metadata", tensors: Mapping[str, Any] | None = None) -> Any:
    """Undo :func:`to_json`; ``{"__tensor__": name}`` becomes ``tensors[name]``. A tagged
    form that to_json never writes (``{"__tuple__": 5}``, an ndarray of dtype object, a
    tensor name not in ``tensors``) is a ValueError naming where it sits."""
    if isinstance(obj, list):
        return [from_json(v, f"{where}[{i}]", tensors) for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    tag = next(iter(obj), None) if len(obj) == 1 else None
    value = obj[tag] if tag is not None else None
    if tag == "__tuple__":
        return tuple(from_json(_tagged(value, list, where, tag), where, tensors))
    if tag == "__items__":
        out = {}
        for i, item in enumerate(_tagged(value, list, where, tag)):
            if not (isinstance(item, list) and len(item) == 2):
                raise ValueError(f"ember: {where}.__items__[{i}] is not a [key, value] pair")
            key = from_json(item[0], f"{where}.__items__[{i}]")
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise ValueError(f"ember: {where}.__items__[{i}] has key {key!r}, not a str or int")
            out[key] = from_json(item[1], f"{where}.{key}", tensors)
        return out
    if tag == "__counter__":
        return Counter(_tagged(from_json(value, where, tensors), dict, where, tag))
    if tag == "__tensor__":
        name = _tagged(value, str, where, tag)
        if tensors is None or name not in tensors:
            raise ValueError(f"ember: {where} names the tensor {name!r}, which the file lacks")
        return tensors[name]
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
    return {k: from_json(v, f"{where}.{k}", tensors) for k, v in obj.items()}


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
