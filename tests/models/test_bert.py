"""ember.models.Bert: a float64 numpy BERT, Hugging Face's BertModel (torch, where
installed), the packed unpadded path, loading Hugging Face folders (prefixes, buffers,
other heads, dtypes) and the clean errors for bad folders and inputs."""

import json

import numpy as np
import pytest
from bert_folders import numpy_bert, random_bert, tiny_config, write_hf_folder

import ember
from ember.models import REGISTRY, Bert, BertConfig
from ember.serialization import ModelFileError


def _batch(rng, b=3, t=7, vocab=17):
    ids = rng.integers(0, vocab, size=(b, t))
    mask = np.ones((b, t), np.int64)
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t
    for i, n in enumerate(lengths):
        mask[i, n:] = 0
    return ids, mask, lengths


def _params(model):
    return {k: np.asarray(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("act", ["gelu", "gelu_new"])
def test_forward_vs_float64_numpy(rng, act):
    cfg = tiny_config(hidden_act=act)
    model = random_bert(cfg).to(ember.float64)
    ids, mask, _ = _batch(rng)
    types = rng.integers(0, 2, size=ids.shape)
    with ember.no_grad():
        got = np.asarray(model(ember.tensor(ids), ember.tensor(mask), ember.tensor(types)))
        plain = np.asarray(model(ember.tensor(ids)))
    want = numpy_bert(_params(model), cfg, ids, mask, types)
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], want[real], rtol=0, atol=1e-10)
    np.testing.assert_allclose(plain, numpy_bert(_params(model), cfg, ids), rtol=0, atol=1e-10)


def test_float32_close_to_float64(rng):
    cfg = tiny_config()
    model = random_bert(cfg)
    ids, mask, _ = _batch(rng)
    with ember.no_grad():
        got = np.asarray(model(ember.tensor(ids), ember.tensor(mask)))
    want = numpy_bert(_params(model), cfg, ids, mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], want[real], rtol=0, atol=1e-4)


def test_unpadded_equals_padded(rng):
    model = random_bert(tiny_config())
    ids, mask, lengths = _batch(rng, b=5, t=9)
    types = rng.integers(0, 2, size=ids.shape)
    with ember.no_grad():
        padded = np.asarray(model(ember.tensor(ids), ember.tensor(mask), ember.tensor(types)))
        packed = np.asarray(model.forward_unpadded(ember.tensor(ids), lengths, ember.tensor(types)))
    assert packed.shape == (lengths.sum(), 16)
    np.testing.assert_allclose(packed, padded[mask.astype(bool)], rtol=0, atol=1e-5)


def test_gradients_vs_finite_differences(rng):
    """Bert trains: every parameter gets a gradient, and one matches a central difference."""
    model = random_bert(tiny_config(num_hidden_layers=1, add_pooling_layer=False))
    model = model.to(ember.float64)
    ids, mask, _ = _batch(rng)
    ids_t, mask_t = ember.tensor(ids), ember.tensor(mask)
    probe = ember.tensor(rng.normal(size=(3, 7, 16)))

    def loss():
        return (model(ids_t, mask_t) * probe).sum()

    loss().backward()
    assert all(p.grad is not None for p in model.parameters())
    w = model.encoder.layer[0].attention.self.key.weight
    analytic = float(w.grad[2, 5].item())
    with ember.no_grad():
        w[2, 5] += 1e-6
        up = float(loss().item())
        w[2, 5] -= 2e-6
        down = float(loss().item())
    assert abs((up - down) / 2e-6 - analytic) < 1e-5 * max(1.0, abs(analytic))


def test_state_shapes_match_the_state_dict():
    for pooler in (True, False):
        cfg = tiny_config(add_pooling_layer=pooler)
        model = Bert(cfg)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert shapes == Bert.state_shapes(cfg)
        assert ("pooler.dense.weight" in shapes) is pooler


def test_from_pretrained_with_and_without_prefix(tmp_path, rng):
    model = random_bert(tiny_config())
    ids, mask, _ = _batch(rng)
    with ember.no_grad():
        want = np.asarray(model(ember.tensor(ids), ember.tensor(mask)))
    position_ids = np.arange(32, dtype=np.int64)[None]
    plain = write_hf_folder(
        tmp_path / "plain", model, extra={"embeddings.position_ids": position_ids}
    )
    # BertForMaskedLM-style: "bert." names, an MLM head to ignore, the positions buffer
    heads = {
        "cls.predictions.bias": np.zeros(17, np.float32),
        "bert.embeddings.position_ids": position_ids,
    }
    prefixed = write_hf_folder(tmp_path / "mlm", model, prefix="bert.", extra=heads)
    for folder in (plain, prefixed):
        loaded = Bert.from_pretrained(folder)
        assert not loaded.training
        with ember.no_grad():
            got = np.asarray(loaded(ember.tensor(ids), ember.tensor(mask)))
        np.testing.assert_array_equal(got, want)


def test_file_without_pooler(tmp_path):
    model = random_bert(tiny_config(add_pooling_layer=False))
    loaded = Bert.from_pretrained(write_hf_folder(tmp_path, model))
    assert not loaded.config.add_pooling_layer
    with pytest.raises(ValueError, match="no pooler"):
        loaded.pool(ember.zeros(1, 2, 16))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_dtypes(tmp_path, rng, dtype):
    model = random_bert(tiny_config())
    ids, mask, _ = _batch(rng)
    loaded = Bert.from_pretrained(write_hf_folder(tmp_path, model), dtype=dtype)
    assert all(p.dtype is getattr(ember, dtype) for p in loaded.parameters())
    with ember.no_grad():
        got = loaded(ember.tensor(ids), ember.tensor(mask)).float()
        want = model(ember.tensor(ids), ember.tensor(mask))
    real = mask.astype(bool)
    err = np.abs(np.asarray(got) - np.asarray(want))[real].max()
    assert err < (0.1 if dtype == "bfloat16" else 0.02)


def test_registered_and_saved_as_a_model_folder(tmp_path, rng):
    assert REGISTRY["bert"] == (Bert, BertConfig)
    model = random_bert(tiny_config(hidden_act="gelu_pytorch_tanh"))
    ids, mask, _ = _batch(rng)
    ember.save(model, tmp_path / "m")
    loaded = ember.load(tmp_path / "m")
    assert loaded.config == model.config
    with ember.no_grad():
        a = np.asarray(model(ember.tensor(ids), ember.tensor(mask)))
        b = np.asarray(loaded(ember.tensor(ids), ember.tensor(mask)))
    np.testing.assert_array_equal(a, b)


def test_config_from_hf_ignores_bookkeeping():
    doc = {
        "architectures": ["BertModel"], "model_type": "bert", "transformers_version": "4.8.2",
        "_name_or_path": "x", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "use_cache": True, "position_embedding_type": "absolute", "hidden_size": 8,
        "num_attention_heads": 2, "intermediate_size": 12, "layer_norm_eps": 1e-12,
        "pad_token_id": None, "some_future_key": [1, 2],
    }  # fmt: skip
    cfg = BertConfig.from_hf(doc)
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.pad_token_id) == (8, 2, 0)
    assert BertConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "change, match",
    [
        ({"hidden_act": "relu"}, "hidden_act 'relu' is not supported"),
        ({"model_type": "roberta"}, "model_type 'roberta'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"is_decoder": True}, "is_decoder"),
        ({"hidden_size": 10, "num_attention_heads": 4}, "divisible"),
        ({"hidden_size": "16"}, "hidden_size must be an int"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"hidden_size": 600, "num_attention_heads": 2}, "head size"),
    ],
)
def test_bad_config_json(tmp_path, change, match):
    model = random_bert(tiny_config())
    folder = write_hf_folder(tmp_path, model)
    doc = json.loads((folder / "config.json").read_text())
    doc.update(change)
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=match) as e:
        Bert.from_pretrained(folder)
    assert e.value.path == folder / "config.json"


def test_non_utf8_config(tmp_path):
    folder = write_hf_folder(tmp_path, random_bert(tiny_config()))
    (folder / "config.json").write_bytes(b'{"hidden_act": "g\xffelu"}')
    with pytest.raises(ModelFileError, match="not UTF-8"):
        Bert.from_pretrained(folder)


def test_mis_shaped_missing_and_extra_tensors(tmp_path):
    model = random_bert(tiny_config())
    arrays = {k: np.asarray(v) for k, v in model.state_dict().items()}
    name, extra = "encoder.layer.1.intermediate.dense.weight", "encoder.layer.9.x"
    cases = {
        "shape": ({**arrays, name: np.zeros((25, 16), np.float32)}, name, "shape"),
        "missing": ({k: v for k, v in arrays.items() if k != name}, name, "missing"),
        "extra": ({**arrays, extra: np.zeros(2, np.float32)}, extra, "not a tensor"),
        "int": ({**arrays, name: np.zeros((24, 16), np.int32)}, name, "not floating"),
    }  # fmt: skip
    for case, (tensors, tensor, match) in cases.items():
        folder = write_hf_folder(tmp_path / case, model)
        ember.serialization.save_tensors(folder / "model.safetensors", tensors)
        with pytest.raises(ModelFileError, match=match) as e:
            Bert.from_pretrained(folder)
        assert e.value.tensor == tensor and e.value.path == folder / "model.safetensors"


def test_missing_files_and_bad_dtype(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        Bert.from_pretrained(tmp_path)
    folder = write_hf_folder(tmp_path / "m", random_bert(tiny_config()))
    with pytest.raises(ValueError, match="dtype must be one of"):
        Bert.from_pretrained(folder, dtype="int8")
    (folder / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(ModelFileError, match="too short"):
        Bert.from_pretrained(folder)


def test_bad_inputs():
    model = Bert(tiny_config())
    ok = ember.zeros(2, 3, dtype=ember.int64)
    with pytest.raises(TypeError, match="input_ids must be a Tensor"):
        model([[1, 2]])
    with pytest.raises(ValueError, match="2-D integer"):
        model(ember.zeros(2, 3))
    with pytest.raises(ValueError, match="sequence length 33"):
        model(ember.zeros(1, 33, dtype=ember.int64))
    with pytest.raises(ValueError, match="attention_mask must be a"):
        model(ok, ember.ones(2, 4))
    with pytest.raises(ValueError, match="lengths must be"):
        model.forward_unpadded(ok, [3, 0])
    with pytest.raises(TypeError, match="BertConfig"):
        Bert({"hidden_size": 8})


def test_against_huggingface_bert_model(tmp_path, rng):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    hf_cfg = transformers.BertConfig(
        vocab_size=23, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=20, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12,
    )  # fmt: skip
    torch.manual_seed(0)
    hf = transformers.BertModel(hf_cfg).eval()
    with torch.no_grad():  # random LayerNorms, so that their parameters matter
        for name, p in hf.named_parameters():
            if "LayerNorm" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    state = {k: v.contiguous() for k, v in hf.state_dict().items()}
    for prefix in ("", "bert."):
        folder = tmp_path / (prefix or "plain")
        folder.mkdir()
        save_file({prefix + k: v for k, v in state.items()}, str(folder / "model.safetensors"))
        hf_cfg.to_json_file(str(folder / "config.json"))
        model = Bert.from_pretrained(folder)
        assert set(model.state_dict()) == set(state) - {"embeddings.position_ids"}
        ids, mask, lengths = _batch(rng, b=4, t=11, vocab=23)
        types = rng.integers(0, 2, size=ids.shape)
        for m, tt in ((None, None), (mask, None), (mask, types)):
            with torch.no_grad():
                out = hf(
                    torch.tensor(ids),
                    attention_mask=None if m is None else torch.tensor(m),
                    token_type_ids=None if tt is None else torch.tensor(tt),
                )
            with ember.no_grad():
                got = np.asarray(
                    model(
                        ember.tensor(ids),
                        None if m is None else ember.tensor(m),
                        None if tt is None else ember.tensor(tt),
                    )
                )
                pooled = np.asarray(model.pool(ember.tensor(got)))
            real = np.ones(ids.shape, bool) if m is None else m.astype(bool)
            want = out.last_hidden_state.numpy()
            np.testing.assert_allclose(got[real], want[real], rtol=0, atol=2e-5)
            if m is None:
                np.testing.assert_allclose(pooled, out.pooler_output.numpy(), rtol=0, atol=2e-5)
