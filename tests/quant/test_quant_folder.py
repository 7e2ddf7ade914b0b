"""Quantized models through ember.save / ember.load: the folder records the swaps, load
rebuilds empty quantized shells and fills them (mmap too), and a tampered scale tensor is a
clean ModelFileError."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ember
from ember.models import GPT, GPTConfig
from ember.quant import BlockQuantLinear, QuantizedLinear, quantize_dynamic, quantize_weights
from ember.serialization import ModelFileError


def _gpt():
    ember.manual_seed(0)
    return GPT(GPTConfig(block_size=16, vocab_size=40, n_layer=2, n_head=2, n_embd=64)).eval()


QUANTIZE = {
    "dynamic": (quantize_dynamic, QuantizedLinear),
    "q8_0": (lambda m: quantize_weights(m, "q8_0"), BlockQuantLinear),
    "q4_0": (lambda m: quantize_weights(m, "q4_0"), BlockQuantLinear),
}


@pytest.mark.parametrize("method", sorted(QUANTIZE))
@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_gives_identical_outputs(tmp_path, method, mmap):
    quantize, cls = QUANTIZE[method]
    q = quantize(_gpt())
    ember.save(q, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["transforms"][0]["kind"] in ("quant.dynamic", "quant.weights")
    loaded = ember.load(tmp_path / "m", mmap=mmap)
    assert sum(isinstance(m, cls) for m in loaded.modules()) == 8
    idx = ember.tensor(np.random.default_rng(1).integers(0, 40, (2, 16)))
    np.testing.assert_array_equal(loaded(idx)[0].detach().numpy(), q(idx)[0].detach().numpy())
    ids = (
        loaded.generate(ember.tensor([[1, 2, 3]]), 5, temperature=0.0)
        if method == "dynamic"
        else None
    )
    assert ids is None or ids.shape == (1, 8)


def test_tampered_scale_shape_is_a_clean_error(tmp_path):
    ember.save(quantize_dynamic(_gpt()), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(weights)
    key = "transformer.h.0.mlp.c_fc.weight_scale"
    state[key] = state[key][:-1]
    save_file(state, weights)
    with pytest.raises(ModelFileError, match="weight_scale"):
        ember.load(tmp_path / "m")


def test_unknown_scheme_in_the_record_is_a_clean_error(tmp_path):
    ember.save(quantize_weights(_gpt(), "q8_0"), tmp_path / "m")
    cfg = tmp_path / "m" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["transforms"][0]["scheme"] = "q3_k"
    cfg.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="q3_k"):
        ember.load(tmp_path / "m")
