"""Model folders, weights and checkpoints are untrusted input: config values are checked
for type and range, weights headers are validated and compared with the config's shapes
before anything is built, and every fault is one ModelFileError naming the file (issue 13:
defect 8 and the errors of model files)."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.models.char_lstm import CharLSTM, CharLSTMConfig
from ember.models.cnn import DigitsCNN, DigitsCNNConfig
from ember.models.folder import CONFIG, WEIGHTS, load_model, save_model
from ember.models.gpt import GPT, GPTConfig
from ember.serialization import (
    ModelFileError,
    TensorSpec,
    from_json,
    load_tensors,
    load_weights,
    to_json,
)
from ember.train import checkpoint as ck

PACKAGE_ROOT = Path(ember.__file__).parent.parent
TINY = dict(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8)


@pytest.fixture
def folder(tmp_path):
    ember.manual_seed(0)
    return save_model(GPT(GPTConfig(**TINY)), tmp_path / "gpt")


def edit_config(folder: Path, **values) -> None:
    doc = json.loads((folder / CONFIG).read_text())
    doc["config"].update(values)
    (folder / CONFIG).write_text(json.dumps(doc))


# ---- defect 8: the config drives sizes -----------------------------------------------------
HOSTILE = [
    # the reproducers: out of range, so rejected by the config's own checks
    {"vocab_size": 20_000_000},
    {"n_layer": 1_000_000},
    {"n_embd": 10**9},
    {"block_size": 10**9},
    # in range, so caught by comparing the implied shapes with the weights header
    {"vocab_size": 10_000_000},
    {"n_layer": 1000},
    {"n_embd": 65536, "n_head": 1},
    {"block_size": 1 << 24},
]


def test_hostile_sizes_fail_before_allocating(folder):
    # All loads in one child under a 1 GB address-space limit: before the fix these took
    # 37-90 s and 3 GB, hung, or died of std::bad_alloc.
    folders = []
    for i, values in enumerate(HOSTILE):
        f = folder.parent / f"case{i}"
        save_model(load_model(folder)[0], f)
        edit_config(f, **values)
        folders.append(str(f))
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from ember.models.folder import load_model\n"
        "from ember.serialization import ModelFileError\n"
        "for f in sys.argv[1:]:\n"
        "    try:\n"
        "        load_model(f)\n"
        "        print('loaded')\n"
        "    except ModelFileError as e:\n"
        "        print('ModelFileError', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *folders],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == len(HOSTILE)
    for values, line in zip(HOSTILE, lines):
        assert line.startswith("ModelFileError"), (values, line)
        assert any(k in line for k in values) or "do not match" in line, line


def test_config_values_have_exact_types(folder):
    for values, field in [
        ({"dropout": "0.5"}, "dropout"),
        ({"bias": "no"}, "bias"),
        ({"tie_weights": 1}, "tie_weights"),
        ({"n_layer": 1.0}, "n_layer"),
        ({"n_layer": True}, "n_layer"),
        ({"dropout": float("nan")}, "dropout"),
        ({"n_head": 3}, "divisible"),
    ]:
        doc = json.loads((folder / CONFIG).read_text())
        edit_config(folder, **values)
        with pytest.raises(ModelFileError, match=field) as e:
            load_model(folder)
        assert e.value.path == folder / CONFIG
        (folder / CONFIG).write_text(json.dumps(doc))
    edit_config(folder, dropout=0.25, tie_weights=False)  # harmless: same tensors
    model, _ = load_model(folder)
    assert model.config.dropout == 0.25


def test_config_checks_are_declared_once():
    with pytest.raises(ValueError, match=r"n_layer must be an int in \[1, 1024\], got 2000"):
        GPTConfig(n_layer=2000)
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0.0, 1.0\), got 1.0"):
        CharLSTMConfig(dropout=1.0)
    with pytest.raises(ValueError, match="hidden_size must be an int"):
        CharLSTMConfig(hidden_size=np.int64(4))
    cfg = CharLSTMConfig(vocab_size=5)
    cfg.num_layers = "2"  # fields can be set after construction: the model checks again
    with pytest.raises(ValueError, match="num_layers"):
        CharLSTM(cfg)
    assert GPTConfig(dropout=0).dropout == 0  # an int is a real number


def test_state_shapes_match_the_built_models():
    for bias, tie, n in itertools.product((True, False), (True, False), (1, 3)):
        cfg = GPTConfig(**{**TINY, "n_layer": n, "bias": bias, "tie_weights": tie})
        built = [(k, tuple(v.shape)) for k, v in GPT(cfg).state_dict().items()]
        assert list(GPT.state_shapes(cfg).items()) == built
    for n in (1, 3):
        cfg = CharLSTMConfig(vocab_size=7, embed_size=4, hidden_size=5, num_layers=n)
        built = [(k, tuple(v.shape)) for k, v in CharLSTM(cfg).state_dict().items()]
        assert list(CharLSTM.state_shapes(cfg).items()) == built
    for width in (1, 5):
        cfg = DigitsCNNConfig(width=width, num_classes=3)
        built = {k: (tuple(v.shape), v.dtype) for k, v in DigitsCNN(cfg).state_dict().items()}
        specs = DigitsCNN.state_shapes(cfg)
        assert list(specs) == list(built)
        for k, spec in specs.items():
            want = spec if isinstance(spec, TensorSpec) else TensorSpec(spec, "F32")
            assert want == (built[k][0], "I64" if built[k][1] is ember.int64 else "F32")


def test_weights_that_do_not_fit_the_config_name_the_differences(folder):
    edit_config(folder, bias=False)
    with pytest.raises(ModelFileError, match=r"unexpected 'transformer.h.0.ln_1.bias'") as e:
        load_model(folder)
    assert e.value.path == folder / WEIGHTS and "and 2 more" in str(e.value)  # 7 biases


# ---- malformed config.json ----------------------------------------------------------------
def _doc(folder: Path) -> dict:
    return json.loads((folder / CONFIG).read_text())


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: b'{"format": "\xff"}', "not UTF-8"),
        (lambda d: b'{"format": ', "not valid JSON"),
        (lambda d: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (lambda d: b"[1, 2]", "not an ember.model config"),
        (lambda d: json.dumps({**d, "architecture": ["gpt"]}).encode(), "unknown architecture"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "config"}).encode(), "object"),
        (
            lambda d: json.dumps({k: v for k, v in d.items() if k != "architecture"}).encode(),
            "None",
        ),
        (lambda d: json.dumps({**d, "config": [1]}).encode(), "expected an object"),
        (lambda d: json.dumps({**d, "tokenizer": [1]}).encode(), "tokenizer"),
        (lambda d: b'{"format": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (lambda d: b'{"format": 1, "format": 2}', "appears twice"),
    ],
)
def test_malformed_config_json(folder, make, reason):
    (folder / CONFIG).write_bytes(make(_doc(folder)))
    with pytest.raises(ModelFileError, match=reason) as e:
        load_model(folder)
    assert str(folder / CONFIG) in str(e.value)


# ---- safetensors files --------------------------------------------------------------------
def _split(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(path: Path, header: dict, data: bytes) -> None:
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def test_damaged_weights(folder):
    w = folder / WEIGHTS
    good = w.read_bytes()
    cases = [
        (good[:-3], "truncated"),
        (good[:5], "too short"),
        (struct.pack("<Q", 2**63) + good[8:], "header length"),
        (good[:9] + bytes([good[9] ^ 0xFF]) + good[10:], "not UTF-8|not valid JSON"),
    ]
    for data, reason in cases:
        w.write_bytes(data)
        with pytest.raises(ModelFileError, match=reason) as e:
            load_model(folder)
        assert e.value.path == w
    w.write_bytes(good)
    header, data = _split(w)
    name = next(k for k in header if k != "__metadata__")
    for field, value, reason in [
        ("data_offsets", [0, 4], "hold 4 bytes"),
        ("data_offsets", [1, -1], "is not"),
        ("shape", [-1], "not a list of at most 32"),
        ("shape", [2**63], "int64 sizes"),
        ("dtype", "F8_E4M3", "'F8_E4M3' is not supported"),
        ("dtype", ["F32"], "is not supported"),
    ]:
        _join(w, {**header, name: {**header[name], field: value}}, data)
        with pytest.raises(ModelFileError, match=reason) as e:
            load_tensors(w)
        assert e.value.tensor == name and str(w) in str(e.value)
    empty = {"dtype": "F32", "shape": [2**62, 0, 2**62], "data_offsets": [0, 0]}
    _join(w, {**header, "empty": empty}, data)
    with pytest.raises(ModelFileError, match="too big for an array"):
        load_tensors(w)
    # two tensors on one byte range
    a, b = [k for k, v in header.items() if k != "__metadata__" and v["shape"] == [8]][:2]
    _join(w, {**header, b: {**header[b], "data_offsets": header[a]["data_offsets"]}}, data)
    with pytest.raises(ModelFileError, match="overlaps|gap"):
        load_tensors(w)


def test_bf16_weights_load_and_f8_is_named(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    ember.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    state = {k: torch.from_numpy(np.asarray(v.detach())) for k, v in model.state_dict().items()}
    save_file({k: v.bfloat16() for k, v in state.items()}, tmp_path / "w.safetensors")
    arrays, _ = load_tensors(tmp_path / "w.safetensors")
    for k, v in state.items():
        assert arrays[k].dtype == np.float32
        np.testing.assert_array_equal(arrays[k], v.bfloat16().float().numpy())
    other = GPT(GPTConfig(**TINY))
    load_weights(tmp_path / "w.safetensors", other)
    got = np.asarray(other.lm_head.weight.detach())
    np.testing.assert_array_equal(got, state["lm_head.weight"].bfloat16().float().numpy())
    save_file({"w": torch.ones(3).to(torch.float8_e5m2)}, tmp_path / "f8.safetensors")
    with pytest.raises(ModelFileError, match=r"tensor 'w'.*'F8_E5M2' is not supported"):
        load_tensors(tmp_path / "f8.safetensors")


# ---- checkpoint metadata ------------------------------------------------------------------
@pytest.mark.parametrize(
    "meta, reason",
    [
        ({"__tuple__": 5}, r"metadata.__tuple__ must be a list"),
        ({"a": {"__items__": [[[1], 2]]}}, r"key \[1\]"),
        ({"a": {"__items__": [1]}}, "not a \\[key, value\\] pair"),
        ({"__counter__": [1]}, "must be a dict"),
        ({"x": {"__float__": "one"}}, "not a float"),
        ({"x": {"__ndarray__": [1], "dtype": "V100000000"}}, "not a number type"),
        ({"x": {"__ndarray__": [[1], [1, 2]], "dtype": "int64"}}, "not an ndarray"),
    ],
)
def test_checkpoint_metadata_tags_are_validated(tmp_path, meta, reason):
    with pytest.raises(ValueError, match=reason):
        from_json(meta)
    path = ck.save_file(tmp_path / "c.safetensors", {"w": ember.ones(2)}, {})
    header, data = _split(path)
    _join(
        path,
        {**header, "__metadata__": {**header["__metadata__"], "ember": json.dumps(meta)}},
        data,
    )
    with pytest.raises(ModelFileError, match=reason):
        ck.load_file(path)


def test_checkpoint_metadata_round_trip_still_holds():
    meta = {"t": (1, (2, "a")), "i": {3: [1]}, "c": {"__x": 1}, "f": float("inf")}
    assert from_json(to_json(meta)) == meta


def test_model_file_error_pickles():
    import pickle

    e = pickle.loads(pickle.dumps(ModelFileError("/x/w.safetensors", "bad", "t")))
    assert e.path == Path("/x/w.safetensors") and e.tensor == "t" and "'t'" in str(e)
