import json

import numpy as np
import pytest

from ember.serve import ServingConfig, TensorMeta
from ember.serve.datatypes import DATATYPES, element_size, from_numpy_dtype, to_numpy_dtype
from ember.serve.errors import BadRequest


def test_datatypes_round_trip():
    for name in DATATYPES:
        assert from_numpy_dtype(to_numpy_dtype(name)) == name
    assert element_size("FP16") == 2 and element_size("INT64") == 8
    assert element_size("BYTES") is None
    assert from_numpy_dtype(np.array([b"ab"]).dtype) == "BYTES"
    with pytest.raises(BadRequest, match="FP8"):
        to_numpy_dtype("FP8")


def test_tensor_meta_json():
    assert TensorMeta("x", "FP32", (-1, 3)).to_json() == {
        "name": "x",
        "datatype": "FP32",
        "shape": [-1, 3],
    }


def test_read_full(tmp_path):
    p = tmp_path / "serving.json"
    doc = {
        "max_batch_size": 8,
        "max_queue_delay_ms": 5,
        "max_queue_size": 10,
        "instance_count": 2,
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
    }
    p.write_text(json.dumps(doc))
    cfg = ServingConfig.read(p)
    assert cfg.max_batch_size == 8 and cfg.max_queue_delay_ms == 5.0
    assert cfg.instance_count == 2 and cfg.outputs is None
    assert cfg.inputs == (TensorMeta("image", "FP32", (-1, 1, 8, 8)),)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"max_batch": 4}, "unknown key 'max_batch'"),
        ({"max_batch_size": "4"}, "max_batch_size must be an integer"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": True}, "max_batch_size"),
        ({"instance_count": 10**6}, "instance_count"),
        ({"max_queue_delay_ms": -1}, "max_queue_delay_ms"),
        ({"max_queue_delay_ms": "x"}, "max_queue_delay_ms"),
        ({"inputs": []}, "inputs must be a non-empty list"),
        ({"inputs": [{"name": "x", "datatype": "FP8", "shape": [1]}]}, "datatype 'FP8'"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [0]}]}, "shape"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2**40]}]}, "shape"),
        ({"inputs": [{"name": "x", "datatype": "FP32"}]}, "exactly"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_read_rejects(tmp_path, doc, match):
    p = tmp_path / "serving.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match) as e:
        ServingConfig.read(p)
    assert str(p) in str(e.value)


def test_read_bad_json(tmp_path):
    p = tmp_path / "serving.json"
    p.write_text("{nope")
    with pytest.raises(ValueError, match="not a readable JSON"):
        ServingConfig.read(p)
