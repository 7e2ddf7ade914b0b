"""`ember prune` and `ember quantize`: a model folder in, a loadable compressed folder
out, with the size, speed and quality report; bad requests are one-line errors."""

import json
import re

import numpy as np
import pytest

import ember
from ember import quant
from ember.cli import main
from ember.data.datasets import tinyshakespeare
from ember.models import GPT, DigitsCNN, DigitsCNNConfig, GPTConfig
from ember.models.folder import char_tokenizer, save_model


@pytest.fixture
def gpt_folder(tmp_path):
    """A tiny character GPT with tinyshakespeare's vocabulary (so it has an eval set)."""
    ember.manual_seed(0)
    itos = tinyshakespeare("val", block_size=8).itos
    model = GPT(GPTConfig(block_size=8, vocab_size=len(itos), n_layer=2, n_head=4, n_embd=32))
    return save_model(model, tmp_path / "gpt", tokenizer=char_tokenizer(itos))


@pytest.fixture
def cnn_folder(tmp_path):
    ember.manual_seed(0)
    return save_model(DigitsCNN(DigitsCNNConfig(width=8)).eval(), tmp_path / "cnn")


def _number(pattern: str, out: str) -> list[float]:
    m = re.search(pattern, out)
    assert m, f"{pattern!r} not in {out!r}"
    return [float(g.replace(",", "")) for g in m.groups()]


def test_structured_prune_of_a_gpt_saves_a_smaller_loadable_folder(gpt_folder, tmp_path, capsys):
    out_dir = tmp_path / "pruned"
    argv = ["prune", str(gpt_folder), str(out_dir), "--amount", "0.5", "--structured"]
    assert main([*argv, "--target", "all"]) == 0
    out = capsys.readouterr().out
    before, after = _number(r"size: ([\d,]+) -> ([\d,]+) bytes", out)
    assert after < before
    assert (out_dir / "model.safetensors").stat().st_size == after
    _number(r"forward on a sample batch \(8, 8\): ([\d.]+) -> ([\d.]+) ms", out)
    v0, v1 = _number(r"validation loss: ([\d.]+) -> ([\d.]+)", out)
    assert np.isfinite([v0, v1]).all()
    pruned = ember.load(out_dir)
    for block in pruned.transformer.h:
        assert (block.attn.n_head, block.mlp.c_fc.out_features) == (2, 64)
    doc = json.loads((out_dir / "config.json").read_text())
    assert doc["tokenizer"]["type"] == "char"  # the tokenizer travels along
    assert doc["meta"]["compressed"] == [{"prune": "structured", "amount": 0.5, "target": "all"}]


def test_magnitude_prune_of_a_cnn_zeroes_weights_and_reports_accuracy(cnn_folder, tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["prune", str(cnn_folder), str(tmp_path / "p"), "--amount", "0.6"]) == 0
    out = capsys.readouterr().out
    before, after = _number(r"size: ([\d,]+) -> ([\d,]+) bytes", out)
    assert before == after  # masks baked in: zeros, same shapes
    _number(r"test accuracy: ([\d.]+) -> ([\d.]+)", out)
    m = ember.load(tmp_path / "p")
    w = np.concatenate([np.asarray(x.weight).ravel() for x in (m.conv1, m.conv2, m.conv3, m.fc)])
    assert abs((w == 0).mean() - 0.6) < 0.01  # a global threshold over all layers


def test_structured_prune_of_a_cnn(cnn_folder, tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["prune", str(cnn_folder), str(tmp_path / "p"), "--structured"]) == 0
    assert tuple(ember.load(tmp_path / "p").conv3.weight.shape) == (16, 8, 3, 3)
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--amount", "1.0"], "--amount must be in [0, 1)"),
        (["--amount", "0.5", "--structured", "--target", "heads"], "nothing to shrink"),
    ],
)
def test_prune_bad_requests_are_one_line_errors(cnn_folder, tmp_path, capsys, argv, needle):
    assert main(["prune", str(cnn_folder), str(tmp_path / "p"), *argv]) == 1
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


def test_prune_of_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["prune", str(tmp_path / "nope"), str(tmp_path / "p")]) == 1
    assert capsys.readouterr().err.startswith("ember: error:")


# The quantize functions come from ember.quant (quantize_dynamic, quantize_weights,
# quantize_static): these run once they are there.
needs_quant = pytest.mark.skipif(
    not all(hasattr(quant, f) for f in ("quantize_dynamic", "quantize_weights", "quantize_static")),
    reason="ember.quant.quantize_dynamic / quantize_weights / quantize_static not merged yet",
)


@needs_quant
@pytest.mark.parametrize("method", ["dynamic", "q8_0", "q4_0"])
def test_quantize_a_gpt(gpt_folder, tmp_path, capsys, method):
    out_dir = tmp_path / method
    assert main(["quantize", str(gpt_folder), str(out_dir), "--method", method]) == 0
    out = capsys.readouterr().out
    before, after = _number(r"size: ([\d,]+) -> ([\d,]+) bytes", out)
    assert after < before
    _number(r"validation loss: ([\d.]+) -> ([\d.]+)", out)
    ember.load(out_dir)


@needs_quant
def test_quantize_static_a_cnn(cnn_folder, tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["quantize", str(cnn_folder), str(tmp_path / "q"), "--method", "static"]) == 0
    out = capsys.readouterr().out
    _number(r"test accuracy: ([\d.]+) -> ([\d.]+)", out)
    ember.load(tmp_path / "q")


def test_quantize_needs_a_known_method(cnn_folder, tmp_path, capsys):
    assert main(["quantize", str(cnn_folder), str(tmp_path / "q"), "--method", "int3"]) == 2
    assert "invalid choice: 'int3'" in capsys.readouterr().err


@needs_quant
def test_prune_then_quantize_loads_with_both_transforms(gpt_folder, tmp_path, capsys):
    pruned, both = tmp_path / "pruned", tmp_path / "both"
    assert main(["prune", str(gpt_folder), str(pruned), "--structured"]) == 0
    assert main(["quantize", str(pruned), str(both), "--method", "q8_0"]) == 0
    doc = json.loads((both / "config.json").read_text())
    assert [t["kind"] for t in doc["transforms"]][0] == "prune.structured"
    model = ember.load(both)
    assert model.transformer.h[0].mlp.c_fc.out_features == 64
    logits, _ = model(ember.randint(0, 65, (1, 8)))
    assert np.isfinite(np.asarray(logits)).all()
