"""The v2 wire format: JSON and binary tensors round-trip for every datatype, and
malformed or lying requests are a BadRequest before anything large is allocated."""

import json

import numpy as np
import pytest

from ember.serve import codec
from ember.serve.datatypes import DATATYPES, to_numpy_dtype
from ember.serve.errors import BadRequest


class Checks:
    """Records what the codec asked the model before building each tensor."""

    def __init__(self, refuse=None):
        self.seen = []
        self.refuse = refuse

    def check_request(self, name, datatype, shape):
        self.seen.append((name, datatype, shape))
        if self.refuse and name == self.refuse:
            raise BadRequest(f"model refuses {name}")


def _sample(datatype):
    if datatype == "BYTES":
        return np.array([[b"a", b""], [b"\xc3\xa9t\xc3\xa9", b"xyz"]], dtype=object)
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    dt = to_numpy_dtype(datatype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.array([[info.min, info.max], [0, 1]], dtype=dt)
    return np.array([[0.5, -1.25], [3.0, 1e3]], dtype=dt)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("datatype", DATATYPES)
def test_every_datatype_round_trips(datatype, binary):
    x = _sample(datatype)
    body, hl = codec.encode_infer_request({"x": x}, binary=binary)
    model = Checks()
    req = codec.parse_infer_request(body, None if hl is None else str(hl), model)
    assert model.seen == [("x", datatype, (2, 2))]
    got = req.inputs["x"]
    assert got.shape == x.shape and got.dtype == x.dtype
    assert got.tolist() == x.tolist()
    assert req.binary_output is binary
    out, hl = codec.encode_infer_response("m", "3", "id-1", [("y", x, binary)])
    back = codec.decode_infer_response(out, None if hl is None else str(hl))
    assert back["y"].tolist() == x.tolist()


def _json(doc):
    return json.dumps(doc).encode()


def _one(datatype="FP32", shape=(2,), data=(1.0, 2.0), **extra):
    data = None if data is None else list(data)
    entry = {"name": "x", "datatype": datatype, "shape": list(shape), "data": data}
    return {"inputs": [{**entry, **extra}]}


@pytest.mark.parametrize(
    "body, match",
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (_json([1, 2]), "JSON object"),
        (_json({}), "no 'inputs'"),
        (_json({"inputs": {}}), "must be a list"),
        (_json({"inputs": [{"datatype": "FP32"}]}), "no 'name'"),
        (_json(_one(datatype="FLOAT")), "datatype"),
        (_json(_one(shape=(2, "a"))), "list of integers"),
        (_json(_one(shape=(-2,))), "negative"),
        (_json(_one(shape=(3,))), "has 2 elements, its shape needs 3"),
        (_json(_one(shape=(1,))), "more than the 1 elements"),
        (_json(_one(data=("a", "b"))), "numbers"),
        (_json(_one(datatype="INT64", data=(1.5, 2))), "integers"),
        (_json(_one(datatype="UINT8", data=(300, 2))), "out of the range"),
        (_json(_one(datatype="FP32", data=(10**400, 2))), "out of the range"),
        (_json(_one(datatype="INT32", data=(True, 2))), "not true/false"),
        (_json(_one(datatype="BOOL", data=(1, 0))), "true/false"),
        (_json(_one(datatype="BYTES", data=(1, 0))), "strings"),
        (_json(_one(data=None)), "must be a list"),
        (_json({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}), "neither"),
        (_json({"inputs": _one()["inputs"] * 2}), "twice"),
        (_json({**_one(), "outputs": "y"}), "'outputs' must be a list"),
        (_json({**_one(), "id": 3}), "'id' must be a string"),
    ],
)
def test_malformed_json_requests(body, match):
    with pytest.raises(BadRequest, match=match):
        codec.parse_infer_request(body, None, Checks())


@pytest.mark.parametrize("shape", [[2**40], [2**40, 2**40], [2**62, 2**62, 2**62], [1 << 12] * 3])
def test_huge_declared_shapes_are_refused_before_allocation(shape):
    body = _json(_one(shape=shape, data=[1.0]))
    with pytest.raises(BadRequest, match="more than"):
        codec.parse_infer_request(body, None, Checks(), max_elements=1 << 24)


def test_the_model_checks_each_input_before_it_is_built():
    with pytest.raises(BadRequest, match="model refuses x"):
        codec.parse_infer_request(_json(_one()), None, Checks(refuse="x"))


def _binary(x, size=None, header=None, tail_extra=b""):
    raw = codec.tensor_to_bytes(x)
    entry = {
        "name": "x",
        "datatype": codec.from_numpy_dtype(x.dtype),
        "shape": list(x.shape),
        "parameters": {"binary_data_size": len(raw) if size is None else size},
    }
    head = _json({"inputs": [entry]})
    return head + raw + tail_extra, str(len(head) if header is None else header)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"header": 10**9}, "body has"),
        ({"header": -1}, "body has"),
        ({"header": "ten"}, "must be an integer"),
        ({"header": 5}, "not valid JSON"),
        ({"size": 10**9}, "runs past"),
        ({"size": 4}, "needs 16"),
        ({"tail_extra": b"\0" * 3}, "after the last binary tensor"),
    ],
)
def test_binary_lengths_that_lie(kwargs, match):
    body, hl = _binary(np.zeros(4, np.float32), **kwargs)
    with pytest.raises(BadRequest, match=match):
        codec.parse_infer_request(body, hl, Checks())


def test_bytes_elements_that_lie_about_their_length():
    x = np.array([b"abc", b"de"], dtype=object)
    raw = bytearray(codec.tensor_to_bytes(x))
    raw[0:4] = (10**6).to_bytes(4, "little")
    entry = {"name": "x", "datatype": "BYTES", "shape": [2]}
    entry["parameters"] = {"binary_data_size": len(raw)}
    head = _json({"inputs": [entry]})
    with pytest.raises(BadRequest, match="claims"):
        codec.parse_infer_request(head + bytes(raw), str(len(head)), Checks())


def test_binary_and_json_inputs_mix_and_outputs_are_parsed():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    raw = codec.tensor_to_bytes(x)
    doc = {
        "id": "r1",
        "inputs": [
            {"name": "a", "datatype": "INT64", "shape": [2, 3]},
            {"name": "b", "datatype": "FP32", "shape": [1, 2], "data": [[1, 2]]},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
    }
    doc["inputs"][0]["parameters"] = {"binary_data_size": len(raw)}
    head = _json(doc)
    req = codec.parse_infer_request(head + raw, str(len(head)), Checks())
    assert req.id == "r1"
    assert req.inputs["a"].tolist() == x.tolist()
    assert req.inputs["b"].dtype == np.float32 and req.inputs["b"].tolist() == [[1.0, 2.0]]
    assert req.outputs == [codec.RequestedOutput("y", True), codec.RequestedOutput("z", False)]


def test_numpy_strings_are_sent_as_bytes():
    body, hl = codec.encode_infer_request({"t": np.array([["é", "b"]])})
    req = codec.parse_infer_request(body, str(hl), Checks())
    assert req.inputs["t"].tolist() == [["é".encode(), b"b"]]
