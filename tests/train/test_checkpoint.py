"""ember.train.checkpoint: the JSON metadata codec and tensor round trips."""

from collections import Counter

import numpy as np
import pytest

import ember
from ember import nn
from ember.train import checkpoint as ck


def test_json_codec_round_trips():
    meta = {
        "t": (1, 2.5, "a"),
        "ints": {3: "x", 0: [1, 2]},
        "inf": float("inf"),
        "nan": float("nan"),
        "arr": np.arange(4, dtype=np.uint32),
        "c": Counter({5: 2, 9: 1}),
        "np": np.float32(1.5),
        "none": None,
        "big": 2**64 - 1,
    }
    back = ck.from_json(ck.to_json(meta))
    assert back["t"] == (1, 2.5, "a") and back["ints"] == {3: "x", 0: [1, 2]}
    assert back["inf"] == float("inf") and np.isnan(back["nan"])
    assert back["arr"].dtype == np.uint32 and back["arr"].tolist() == [0, 1, 2, 3]
    assert isinstance(back["c"], Counter) and back["c"][5] == 2 and back["c"][7] == 0
    assert back["np"] == 1.5 and back["none"] is None and back["big"] == 2**64 - 1
    with pytest.raises(TypeError, match=r"metadata\.f"):
        ck.to_json({"f": lambda: 0}, "metadata")


def test_tensors_keep_shape_and_dtype_including_0d(tmp_path):
    tensors = {
        "scalar": ember.tensor(7),
        "f64": ember.tensor(np.arange(6.0).reshape(2, 3)),
        "f32": ember.randn(3, 1),
    }
    path = ck.save_file(tmp_path / "x.safetensors", tensors, {"step": 3})
    arrays, meta = ck.load_file(path)
    assert meta == {"step": 3}
    for k, t in tensors.items():
        assert arrays[k].shape == t.shape and arrays[k].dtype == t.dtype.numpy_dtype
        np.testing.assert_array_equal(arrays[k], np.asarray(t))
    with pytest.raises(FileNotFoundError):
        ck.load_file(tmp_path / "missing.safetensors")


def test_weights_round_trip_with_buffers(tmp_path):
    ember.manual_seed(0)
    a = nn.BatchNorm1d(3)
    a.running_mean.copy_(ember.randn(3))
    ck.save_weights(tmp_path / "w.safetensors", a)
    b = nn.BatchNorm1d(3)
    ck.load_weights(tmp_path / "w.safetensors", b)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.asarray(va).tobytes() == np.asarray(vb).tobytes(), k
        assert va.shape == vb.shape
