"""Smoke runs of the GPT recipe, `ember sample` and `ember demo` (tiny settings), and the
model folder they save."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ember
from ember.cli import main
from ember.models.folder import CONFIG, WEIGHTS, load_model, save_model
from ember.models.gpt import GPT, GPTConfig
from ember.train.recipes._charlm import cosine_with_warmup

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16"]
QUICK = ["--eval-every", "2", "--eval-batches", "2", "--sample-tokens", "5", "--no-progress"]


def test_train_gpt_saves_a_model_that_samples(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "gpt", "--max-steps", "3", "--out", str(out), *TINY, *QUICK]) == 0
    text = capsys.readouterr().out
    assert "validation loss" in text and "model saved" in text
    doc = json.loads((out / "model" / CONFIG).read_text())
    assert doc["architecture"] == "gpt" and doc["config"]["n_layer"] == 1
    assert len(doc["tokenizer"]["itos"]) == 65
    assert main(["sample", str(out), "--prompt", "ROMEO:", "--tokens", "7"]) == 0
    sampled = capsys.readouterr().out
    assert sampled.startswith("ROMEO:") and len(sampled.rstrip("\n")) >= len("ROMEO:")


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--steps", "2", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "ember demo" in text and "--- sample" in text
    assert "POST /v2/models/demo/infer" in text and "ember serve --model-repository" in text
    assert (tmp_path / "d" / "model" / WEIGHTS).is_file()


def test_sample_errors_are_one_line(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ember: error:") and err.count("\n") == 1


def test_model_folder_round_trip_and_replace(tmp_path):
    ember.manual_seed(3)
    cfg = GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8)
    a, b = GPT(cfg), GPT(cfg)
    path = tmp_path / "m"
    save_model(a, path, tokenizer={"type": "char", "itos": list("abcdefghijk")})
    save_model(b, path)  # replaces the folder whole
    loaded, doc = load_model(path)
    assert doc["tokenizer"] is None
    for (k, v), (k2, w) in zip(b.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(np.asarray(v.detach()), np.asarray(w.detach()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folders left


def test_save_model_rejects_unregistered_models(tmp_path):
    with pytest.raises(ValueError, match="not a registered architecture"):
        save_model(ember.nn.Linear(2, 2), tmp_path / "x")


def test_cosine_with_warmup_matches_nanogpt():
    kw = dict(warmup=100, total=2000, lr=1e-3, min_lr=1e-4)
    assert cosine_with_warmup(0, **kw) == pytest.approx(1e-3 / 101)
    assert cosine_with_warmup(99, **kw) == pytest.approx(1e-3 * 100 / 101)
    assert cosine_with_warmup(100, **kw) == pytest.approx(1e-3)
    assert cosine_with_warmup(1050, **kw) == pytest.approx(5.5e-4)
    assert cosine_with_warmup(2000, **kw) == pytest.approx(1e-4)
    assert cosine_with_warmup(5000, **kw) == pytest.approx(1e-4)


def test_train_lstm_and_sample(tmp_path, capsys):
    out = tmp_path / "lstm"
    argv = ["train", "lstm", "--max-steps", "3", "--hidden", "16", "--embed", "8"]
    assert main([*argv, "--block-size", "16", "--out", str(out), *QUICK]) == 0
    assert json.loads((out / "model" / CONFIG).read_text())["architecture"] == "char_lstm"
    capsys.readouterr()
    assert main(["sample", str(out / "model"), "--prompt", "KING", "--tokens", "9"]) == 0
    assert capsys.readouterr().out.startswith("KING")


def test_char_lstm_generate_continues_the_state(rng):
    from ember.models import CharLSTM, CharLSTMConfig

    ember.manual_seed(1)
    m = CharLSTM(CharLSTMConfig(vocab_size=7, embed_size=4, hidden_size=5, block_size=8))
    idx = ember.tensor(rng.integers(0, 7, (2, 3)))
    out = np.asarray(m.generate(idx, 6, temperature=0.0))
    assert out.shape == (2, 9)
    np.testing.assert_array_equal(out[:, :3], np.asarray(idx))
    # greedy decoding == argmax of the full-sequence logits at every new position
    logits, _ = m(ember.tensor(out[:, :-1]))
    np.testing.assert_array_equal(np.asarray(logits).argmax(-1)[:, 2:], out[:, 3:])
    with pytest.raises(ValueError, match="top_k"):
        m.generate(idx, 1, top_k=0)
    with pytest.raises(ValueError, match="hidden_size"):
        CharLSTMConfig(hidden_size=0)
