"""`ember encode`: embeddings as rows of numbers, --similarity as the cosine matrix, texts
from stdin with '-', and one-line errors for bad arguments."""

import io

import numpy as np
import pytest
from bert_folders import random_bert, tiny_config, write_st_folder

from ember.cli import main
from ember.models import SentenceEncoder

pytest.importorskip("tokenizers")

TEXTS = ["the cat sat", "cats running", "The DOG ran fast"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_st_folder(tmp_path_factory.mktemp("st"), random_bert(tiny_config()))


def _rows(out: str) -> np.ndarray:
    return np.loadtxt(io.StringIO(out), ndmin=2)


def test_prints_one_embedding_per_text(folder, capsys):
    assert main(["encode", "--model", str(folder), *TEXTS]) == 0
    want = SentenceEncoder.from_pretrained(folder).encode(TEXTS)
    np.testing.assert_allclose(_rows(capsys.readouterr().out), want, atol=1e-6)


def test_similarity_is_the_cosine_matrix(folder, capsys):
    assert main(["encode", "--model", str(folder), "--similarity", *TEXTS]) == 0
    out = capsys.readouterr().out
    emb = SentenceEncoder.from_pretrained(folder).encode(TEXTS)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(_rows(out), unit @ unit.T, atol=1e-4)
    assert "# [1] 'cats running'" in out


def test_dash_reads_lines_from_stdin(folder, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("cats running\nThe DOG ran fast\n"))
    assert main(["encode", "--model", str(folder), "the cat sat", "-"]) == 0
    want = SentenceEncoder.from_pretrained(folder).encode(TEXTS)
    np.testing.assert_allclose(_rows(capsys.readouterr().out), want, atol=1e-6)


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--batch-size", "0", "x"], 2, "--batch-size must be positive"),
        (["--threads", "-1", "x"], 2, "--threads must be positive"),
        (["-"], 2, "no texts to encode"),
    ],
)
def test_bad_arguments(folder, capsys, monkeypatch, argv, code, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["encode", "--model", str(folder), *argv]) == code
    assert message in capsys.readouterr().err


def test_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["encode", "--model", str(tmp_path / "nope"), "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ember: error:") and err.count("\n") == 1
