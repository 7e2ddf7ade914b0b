"""Structurally pruned models round-trip through ember.save / ember.load: the pruning
is recorded in config.json and replayed on load (shapes only), outputs are identical;
a model shrunk by hand or a tampered record is a clean error."""

import json

import numpy as np
import pytest

import ember
from ember import prune
from ember.models import GPT, DigitsCNN, GPTConfig
from ember.nn import Parameter
from ember.serialization import ModelFileError

_ATTN, _MLP = "transformer.h.0.attn", "transformer.h.0.mlp.c_fc"


def _gpt() -> GPT:
    ember.manual_seed(0)
    return GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=4, n_embd=32)).eval()


def test_pruned_gpt_folder_loads_with_identical_outputs(tmp_path):
    model = _gpt()
    prune.structured(model, 0.5)  # two calls: both are replayed, in order
    prune.structured(model, 1, dim=1, target="heads")
    idx = ember.randint(0, 32, (2, 16))
    expected = np.asarray(model(idx)[0])
    ember.save(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["format"] == "ember.model/3"
    assert doc["transforms"][0] == {
        "kind": "prune.structured",
        "neurons": {"transformer.h.0.mlp.c_fc": 64, "transformer.h.1.mlp.c_fc": 64},
        "heads": {},
    }
    assert doc["transforms"][1]["heads"] == {"transformer.h.0.attn": 3, "transformer.h.1.attn": 3}
    loaded = ember.load(tmp_path / "m")
    assert loaded.num_params() == model.num_params()
    np.testing.assert_array_equal(np.asarray(loaded(idx)[0]), expected)
    np.testing.assert_array_equal(
        np.asarray(loaded.generate(idx[:, :2], 8, temperature=0)),
        np.asarray(model.generate(idx[:, :2], 8, temperature=0)),
    )
    ember.save(loaded, tmp_path / "again")  # the history travels with the loaded model
    assert (
        json.loads((tmp_path / "again" / "config.json").read_text())["transforms"]
        == (doc["transforms"])
    )


def test_pruned_digits_cnn_folder_loads_with_identical_outputs(tmp_path):
    ember.manual_seed(0)
    model = DigitsCNN().eval()
    prune.structured(model, 0.25)
    assert tuple(model.conv2.weight.shape) == (48, 24, 3, 3)
    assert tuple(model.fc.weight.shape) == (10, 96)
    x = ember.randn(3, 1, 8, 8)
    ember.save(model, tmp_path / "cnn")
    loaded = ember.load(tmp_path / "cnn")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_a_gpt_shrunk_by_hand_is_not_saved_as_a_folder_it_could_not_load(tmp_path):
    model = _gpt()
    with ember.no_grad():
        model.transformer.h[0].mlp.c_fc.weight = Parameter(ember.zeros(64, 32))
    with pytest.raises(ValueError, match="no longer match its config"):
        ember.save(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "record, message",
    [
        ({"kind": "prune.structured", "neurons": {"nope": 3}, "heads": {}}, "nope"),
        ({"kind": "prune.structured", "neurons": {}, "heads": {_ATTN: 9}}, "from 4 to 9"),
        ({"kind": "prune.structured", "neurons": {_MLP: 0}}, "from 128 to 0"),
        ({"kind": "prune.structured"}, "neurons"),
    ],
)
def test_a_tampered_record_is_a_model_file_error(tmp_path, record, message):
    model = prune.structured(_gpt(), 0.5)
    ember.save(model, tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["transforms"] = [record]
    cfg.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=message):
        ember.load(tmp_path / "m")
