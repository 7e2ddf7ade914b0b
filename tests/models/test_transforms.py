"""Model folders record the structural transforms a model went through and replay them
on load (the framework ember.prune / ember.quant plug into), checked here with a small
transform of the test's own: dropping one Linear's bias."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.models import GPT, GPTConfig, transforms
from ember.serialization import ModelFileError


def _drop_bias(model, record):
    model.get_submodule(record["module"]).bias = None


transforms.register("test.drop_bias", _drop_bias)
CFG = GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8)


def _changed_gpt():
    ember.manual_seed(3)
    model = GPT(CFG).eval()
    model.transformer.h[1].mlp.c_proj.bias = None
    transforms.record(model, "test.drop_bias", module="transformer.h.1.mlp.c_proj")
    return model


def test_a_recorded_transform_round_trips_through_a_folder(tmp_path):
    model = _changed_gpt()
    ember.save(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["format"] == "ember.model/3"
    assert doc["transforms"] == [{"kind": "test.drop_bias", "module": "transformer.h.1.mlp.c_proj"}]
    loaded = ember.load(tmp_path / "m")
    assert loaded.transformer.h[1].mlp.c_proj.bias is None
    assert transforms.recorded(loaded) == doc["transforms"]
    idx = ember.randint(0, 11, (2, 8))
    with ember.no_grad():
        np.testing.assert_array_equal(loaded(idx)[0].numpy(), model(idx)[0].numpy())


def test_plain_folders_keep_format_2(tmp_path):
    ember.save(GPT(CFG), tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["format"] == "ember.model/2" and "transforms" not in doc


def test_an_unrecorded_change_is_refused_at_save(tmp_path):
    model = GPT(CFG)
    model.transformer.h[0].mlp.c_proj.bias = None
    with pytest.raises(ValueError, match="no longer match its config"):
        ember.save(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "records, match",
    [
        ({"kind": "test.drop_bias"}, "must be a list"),
        ([{"kind": "nope"}], "unknown kind 'nope'"),
        ([{"kind": "test.drop_bias", "module": "transformer.h.9.mlp"}], "does not fit"),
        ([{"kind": "test.drop_bias"}], "does not fit"),
    ],
)
def test_bad_transform_records_are_model_file_errors(tmp_path, records, match):
    ember.save(_changed_gpt(), tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["transforms"] = records
    cfg.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=match):
        ember.load(tmp_path / "m")


def test_a_transform_that_was_not_replayed_leaves_the_weights_unmatched(tmp_path):
    ember.save(_changed_gpt(), tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["transforms"] = []
    cfg.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="missing 'transformer.h.1.mlp.c_proj.bias'"):
        ember.load(tmp_path / "m")


def test_record_needs_a_registered_kind():
    with pytest.raises(ValueError, match="no replay registered"):
        transforms.record(GPT(CFG), "never.registered")


def test_a_transformed_folder_with_hostile_sizes_is_a_clean_error(tmp_path):
    # The shell is built before the weights are checked: under a 1 GB address-space
    # limit, a config describing huge tensors must end as a ModelFileError, not a crash.
    ember.save(_changed_gpt(), tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["config"].update(n_embd=65536, n_head=1)
    cfg.write_text(json.dumps(doc))
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "import ember\n"
        "from ember.models import transforms\n"
        "transforms.register('test.drop_bias', lambda m, r: setattr("
        "m.get_submodule(r['module']), 'bias', None))\n"
        "try:\n"
        "    ember.load(sys.argv[1])\n"
        "    print('loaded')\n"
        "except ember.serialization.ModelFileError as e:\n"
        "    print('ModelFileError', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(ember.__file__).parents[1])},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ModelFileError"), out.stdout
