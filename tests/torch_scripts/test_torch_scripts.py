"""Issue 15's acceptance: eight training scripts written for torch run on ember with their
import lines changed and nothing else, and their losses match torch's step by step.

How the two runs are made comparable (same weights, batches and noise) is runner.py's
docstring.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))
import runner  # noqa: E402

# script -> (loss rtol, files it writes)
SCRIPTS = {
    "regression": (1e-4, ["regression.pt"]),
    "mnist": (1e-4, ["mnist_cnn.pt"]),
    "vae": (1e-4, ["vae.pt"]),
    "time_sequence_prediction": (1e-6, ["sequence.pt"]),
    "word_language_model": (1e-4, ["lstm.pt", "transformer.pt"]),
    "nanogpt": (1e-4, ["out-shakespeare-char/ckpt.pt"]),
    "mingpt": (1e-4, ["model.pt"]),
    "makemore": (1e-4, ["out/model.pt"]),
}


def _outputs(name: str, ns: dict) -> None:
    """What the script's generate / checkpoint paths left behind, checked per script."""
    if name == "word_language_model":
        assert len(ns["generated"]) == ns["args"].words
    elif name == "nanogpt":
        assert len(ns["samples"]) == 2
        assert all(len(s) == 21 and set(s) <= set(ns["chars"]) for s in ns["samples"])
    elif name == "mingpt":
        assert len(ns["completions"]) == 1 and ns["completions"][0].startswith("O Romeo")
    elif name == "makemore":
        assert sorted(ns["all_samples"]) == ["bigram", "mlp", "transformer"]
        chars = set(ns["train_dataset"].chars)
        assert all(set(w) <= chars for s in ns["all_samples"].values() for w in s)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_matches_torch(name, tmp_path, monkeypatch):
    rtol, files = SCRIPTS[name]
    tape = runner.Tape()
    (tmp_path / "torch").mkdir()
    monkeypatch.chdir(tmp_path / "torch")
    expected = runner.run_torch(name, tape)
    assert len(expected.losses) >= 16, "the torch run is the reference: too few steps"

    (tmp_path / "ember").mkdir()
    monkeypatch.chdir(tmp_path / "ember")
    got = runner.run_ember(name, tape)

    assert len(got.losses) == len(expected.losses)
    np.testing.assert_allclose(got.losses, expected.losses, rtol=rtol)
    for f in files:
        assert (tmp_path / "ember" / f).is_file(), f
    _outputs(name, got.namespace)
    if name == "mingpt":  # greedy decoding: the same text as torch's
        assert got.namespace["completions"] == expected.namespace["completions"]


def test_ember_source_rewrites_only_import_lines():
    src = (
        "import torch\n"
        "import torch.nn as nn\n"
        "import torch.onnx\n"
        "from torch.utils.data import DataLoader\n"
        "from torch import nn, optim\n"
        "x = torch.zeros(2)  # import torch\n"
    )
    assert runner.ember_source(src) == (
        "import ember as torch\n"
        "import ember.nn as nn\n"
        "import ember.onnx\n"
        "from ember.utils.data import DataLoader\n"
        "from ember import nn, optim\n"
        "x = torch.zeros(2)  # import torch\n"
    )
