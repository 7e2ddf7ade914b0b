"""examples/char_lstm.py runs end to end for a few steps (the full run is documented in the
example; it takes minutes)."""

from __future__ import annotations

import importlib.util
import math
import pathlib

import ember

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "char_lstm.py"


def test_char_lstm_example_runs(capsys):
    spec = importlib.util.spec_from_file_location("char_lstm", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    prev = ember.get_num_threads()
    try:
        res = mod.main(
            ["--steps", "4", "--hidden", "32", "--seq", "16", "--batch", "4", "--eval-every", "2",
             "--eval-batches", "2", "--sample-chars", "20", "--threads", "1", "--seed", "3"]
        )  # fmt: skip
    finally:
        ember.set_num_threads(prev)
    assert res["steps"] == 4
    assert math.isfinite(res["val_loss"]) and res["val_loss"] < math.log(65) + 0.5
    assert res["sample"].startswith("ROMEO:\n") and len(res["sample"]) == len("ROMEO:\n") + 20
    assert "validation loss" in capsys.readouterr().out
