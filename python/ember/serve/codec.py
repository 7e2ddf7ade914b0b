"""The KServe v2 infer wire format: JSON tensors (row-major ``data``) and the binary
tensor data extension (a JSON header of ``Inference-Header-Content-Length`` bytes, then
the raw tensors back to back, each sized by its ``parameters.binary_data_size``).

Every declared shape is checked (by the model and against the element limit) before
anything of that size is allocated, and every length in a binary body is checked against
the bytes actually there, so a request can only ever cost what it sent.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .datatypes import DATATYPES, element_size, from_numpy_dtype, to_numpy_dtype
from .errors import BadRequest

HEADER_LENGTH = "Inference-Header-Content-Length"
DEFAULT_MAX_ELEMENTS = 1 << 24

# The JSON form of an infer request, for the OpenAPI document (clients and fuzzers read
# it); the binary form sends the same object as its header.
_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
INFER_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
            },
        },
        "parameters": {"type": "object"},
    },
}

_LENGTH = struct.Struct("<I")  # the 4-byte little-endian prefix of each BYTES element


class ChecksRequests(Protocol):
    """What the codec needs of a model: a look at each input before it is built."""

    def check_request(self, name: str, datatype: str, shape: tuple[int, ...]) -> None: ...


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass
class InferRequest:
    """A parsed infer request. ``outputs`` is None when the client named none (then
    every output is sent, binary when ``binary_output``)."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None
    binary_output: bool


# ---- shapes ---------------------------------------------------------------------------------
def checked_shape(shape: Any, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints; BadRequest naming ``what`` otherwise."""
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise BadRequest(f"{what}: 'shape' must be a list of integers, got {shape!r:.80}")
    if any(d < 0 for d in shape):
        raise BadRequest(f"{what}: shape {shape} has a negative dimension")
    return tuple(shape)


def element_count(shape: tuple[int, ...], max_elements: int, what: str) -> int:
    """The number of elements of ``shape``, refused (BadRequest) as soon as the running
    product passes ``max_elements``: a shape like [2**40, 2**40] never reaches numpy."""
    n = 1
    for d in shape:
        n *= d
        if n > max_elements:
            raise BadRequest(
                f"{what}: shape {list(shape)} has more than {max_elements} elements (the limit)"
            )
    return n


# ---- one tensor -------------------------------------------------------------------------------
def _flatten(data: Any, count: int, what: str) -> list:
    """Row-major ``data`` (flat or nested lists) as a flat list of exactly ``count``
    scalars; stops reading as soon as there are too many."""
    if not isinstance(data, list):
        raise BadRequest(f"{what}: 'data' must be a list, got {type(data).__name__}")
    out: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
            if len(out) > count:
                raise BadRequest(f"{what}: 'data' has more than the {count} elements of its shape")
        else:
            stack.pop()
    if len(out) != count:
        raise BadRequest(f"{what}: 'data' has {len(out)} elements, its shape needs {count}")
    return out


def tensor_from_json(
    data: Any,
    datatype: str,
    shape: tuple[int, ...],
    what: str,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> np.ndarray:
    """A tensor from JSON ``data`` (numbers, booleans, or strings for BYTES), type- and
    range-checked: 1.5 is not an INT64 and 300 is not a UINT8."""
    flat = _flatten(data, element_count(shape, max_elements, what), what)
    return _typed(flat, datatype, what).reshape(shape)


def _typed(flat: list, datatype: str, what: str) -> np.ndarray:
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise BadRequest(f"{what}: BYTES data must be strings")
        out = np.empty(len(flat), dtype=object)
        out[:] = [v.encode("utf-8") for v in flat]
        return out
    target = to_numpy_dtype(datatype)
    if not all(isinstance(v, (bool, int, float)) for v in flat):
        raise BadRequest(f"{what}: {datatype} data must be numbers")
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise BadRequest(f"{what}: BOOL data must be true/false")
        return np.array(flat, dtype=np.bool_)
    if any(isinstance(v, bool) for v in flat):
        raise BadRequest(f"{what}: {datatype} data must be numbers, not true/false")
    if target.kind in "iu":
        if not all(isinstance(v, int) for v in flat):
            raise BadRequest(f"{what}: {datatype} data must be integers")
        info = np.iinfo(target)
        if flat and (min(flat) < info.min or max(flat) > info.max):
            raise BadRequest(f"{what}: a value is out of the range of {datatype}")
    try:
        return np.array(flat, dtype=target)
    except OverflowError:  # an integer too large for any float (10**400)
        raise BadRequest(f"{what}: a value is out of the range of {datatype}") from None


def tensor_to_json(array: np.ndarray) -> list:
    """Row-major flat ``data`` of a tensor (BYTES decoded as UTF-8)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype == object or flat.dtype.kind in "SU":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def tensor_from_bytes(
    buf: memoryview,
    datatype: str,
    shape: tuple[int, ...],
    what: str,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> np.ndarray:
    """A tensor from its binary form (little-endian; BYTES: a 4-byte length before each
    element). The buffer must hold exactly the tensor: no byte short, none left over."""
    n = element_count(shape, max_elements, what)
    size = element_size(datatype)
    if size is not None:
        if len(buf) != n * size:
            raise BadRequest(
                f"{what}: binary_data_size is {len(buf)} bytes, shape {list(shape)} of "
                f"{datatype} needs {n * size}"
            )
        dt = to_numpy_dtype(datatype).newbyteorder("<")
        return np.frombuffer(buf, dtype=dt).astype(dt.newbyteorder("="), copy=True).reshape(shape)
    out = np.empty(n, dtype=object)
    pos = 0
    for i in range(n):
        if pos + 4 > len(buf):
            raise BadRequest(f"{what}: binary BYTES data ends inside element {i} of {n}")
        (length,) = _LENGTH.unpack_from(buf, pos)
        pos += 4
        if pos + length > len(buf):
            raise BadRequest(f"{what}: BYTES element {i} claims {length} bytes past the data")
        out[i] = bytes(buf[pos : pos + length])
        pos += length
    if pos != len(buf):
        raise BadRequest(f"{what}: {len(buf) - pos} bytes left over after {n} BYTES elements")
    return out.reshape(shape)


def tensor_to_bytes(array: np.ndarray) -> bytes:
    """The binary form of a tensor (see :func:`tensor_from_bytes`)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if from_numpy_dtype(flat.dtype) != "BYTES":
        return flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes()
    parts = []
    for v in flat:
        b = v if isinstance(v, bytes) else str(v).encode("utf-8")
        parts += [_LENGTH.pack(len(b)), b]
    return b"".join(parts)


# ---- bodies ---------------------------------------------------------------------------------
def _split_body(body: bytes, header_length: str | None) -> tuple[dict, memoryview]:
    """The JSON header of a body and its binary tail (empty without the header)."""
    if header_length is None:
        split = len(body)
    else:
        try:
            split = int(header_length)
        except ValueError:
            raise BadRequest(
                f"{HEADER_LENGTH} must be an integer, got {header_length!r:.40}"
            ) from None
        if not 0 <= split <= len(body):
            raise BadRequest(f"{HEADER_LENGTH} is {split} but the body has {len(body)} bytes")
    if split == 0:
        raise BadRequest("the request body is empty (expected a JSON object)")
    try:
        doc = json.loads(bytes(body[:split]))
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise BadRequest(f"the request body is not valid JSON: {e}"[:300]) from None
    if not isinstance(doc, dict):
        raise BadRequest("the request body must be a JSON object")
    return doc, memoryview(body)[split:]


def _binary_size(entry: dict, what: str) -> int | None:
    params = entry.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest(f"{what}: 'parameters' must be an object")
    size = params.get("binary_data_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadRequest(f"{what}: binary_data_size must be a non-negative integer")
    return size


def _read_tensors(
    entries: Any,
    tail: memoryview,
    kind: str,
    max_elements: int,
    model: ChecksRequests | None,
) -> dict[str, np.ndarray]:
    """The tensors of ``entries`` (a request's inputs or a response's outputs), data
    from JSON or from consecutive slices of ``tail``; ``model`` checks each before it
    is built."""
    if not isinstance(entries, list):
        raise BadRequest(f"'{kind}s' must be a list")
    out: dict[str, np.ndarray] = {}
    pos = 0
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BadRequest(f"{kind} {i} must be an object")
        name, datatype = entry.get("name"), entry.get("datatype")
        if not isinstance(name, str):
            raise BadRequest(f"{kind} {i} has no 'name'")
        what = f"{kind} {name!r}"
        if name in out:
            raise BadRequest(f"{what} appears twice")
        if datatype not in DATATYPES:
            raise BadRequest(f"{what}: datatype {datatype!r:.40} is not one of {list(DATATYPES)}")
        shape = checked_shape(entry.get("shape"), what)
        element_count(shape, max_elements, what)
        if model is not None:
            model.check_request(name, datatype, shape)
        size = _binary_size(entry, what)
        if size is not None:
            if "data" in entry:
                raise BadRequest(f"{what} has both 'data' and binary_data_size")
            if pos + size > len(tail):
                raise BadRequest(
                    f"{what}: binary_data_size {size} runs past the {len(tail)} binary bytes sent"
                )
            out[name] = tensor_from_bytes(
                tail[pos : pos + size], datatype, shape, what, max_elements
            )
            pos += size
        elif "data" in entry:
            out[name] = tensor_from_json(entry["data"], datatype, shape, what, max_elements)
        else:
            raise BadRequest(f"{what} has neither 'data' nor binary_data_size")
    if pos != len(tail):
        raise BadRequest(f"{len(tail) - pos} binary bytes after the last binary tensor")
    return out


def _requested_outputs(doc: dict) -> list[RequestedOutput] | None:
    outputs = doc.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise BadRequest("'outputs' must be a list")
    out = []
    for i, entry in enumerate(outputs):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BadRequest(f"output {i} must be an object with a 'name'")
        params = entry.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest(f"output {entry['name']!r}: 'parameters' must be an object")
        out.append(RequestedOutput(entry["name"], params.get("binary_data") is True))
    return out


def parse_infer_request(
    body: bytes,
    header_length: str | None,
    model: ChecksRequests,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> InferRequest:
    """A v2 infer request from its body and ``Inference-Header-Content-Length`` header
    (None: the body is all JSON). BadRequest for anything malformed."""
    doc, tail = _split_body(body, header_length)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest("'parameters' must be an object")
    if "inputs" not in doc:
        raise BadRequest("the request has no 'inputs'")
    inputs = _read_tensors(doc["inputs"], tail, "input", max_elements, model)
    return InferRequest(
        id=request_id,
        inputs=inputs,
        outputs=_requested_outputs(doc),
        binary_output=params.get("binary_data_output") is True,
    )


def _encode(
    doc: dict, tensors: Iterable[tuple[dict, np.ndarray, bool]]
) -> tuple[bytes, int | None]:
    """``doc`` with the tensor entries filled in: JSON data, or binary parts appended
    after the JSON. Returns (body, header length or None when all JSON)."""
    tail: list[bytes] = []
    for entry, array, binary in tensors:
        if array.dtype.kind == "U":  # numpy strings: BYTES, as UTF-8
            array = np.array([v.encode("utf-8") for v in array.reshape(-1)], object).reshape(
                array.shape
            )
        entry.update(datatype=from_numpy_dtype(array.dtype), shape=[int(d) for d in array.shape])
        if binary:
            raw = tensor_to_bytes(array)
            entry.setdefault("parameters", {})["binary_data_size"] = len(raw)
            tail.append(raw)
        else:
            entry["data"] = tensor_to_json(array)
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not tail:
        return header, None
    return header + b"".join(tail), len(header)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: list[tuple[str, np.ndarray, bool]],
) -> tuple[bytes, int | None]:
    """A v2 infer response for (name, array, binary) outputs: (body, the
    ``Inference-Header-Content-Length`` value, None when the body is all JSON)."""
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        doc["id"] = request_id
    entries = [({"name": name}, array, binary) for name, array, binary in outputs]
    doc["outputs"] = [e for e, _, _ in entries]
    return _encode(doc, entries)


def encode_infer_request(
    inputs: dict[str, np.ndarray], outputs: list[str] | None = None, binary: bool = True
) -> tuple[bytes, int | None]:
    """A v2 infer request (the client side): inputs as binary data (or JSON), and every
    output (or ``outputs``) asked for in the same form."""
    doc: dict[str, Any] = {}
    entries = [({"name": name}, np.asarray(a), binary) for name, a in inputs.items()]
    doc["inputs"] = [e for e, _, _ in entries]
    if outputs is None:
        doc["parameters"] = {"binary_data_output": binary}
    else:
        doc["outputs"] = [{"name": n, "parameters": {"binary_data": binary}} for n in outputs]
    return _encode(doc, entries)


def decode_infer_response(
    body: bytes, header_length: str | None, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> dict[str, np.ndarray]:
    """The output tensors of a v2 infer response (the client side)."""
    doc, tail = _split_body(body, header_length)
    return _read_tensors(doc.get("outputs"), tail, "output", max_elements, None)
