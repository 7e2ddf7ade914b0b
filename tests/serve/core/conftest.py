"""A small model repository in tmp_path: tiny GPT (two versions), CharLSTM, DigitsCNN and
Bert folders written with ember's own savers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.models import (
    GPT,
    Bert,
    BertConfig,
    CharLSTM,
    CharLSTMConfig,
    DigitsCNN,
    DigitsCNNConfig,
    GPTConfig,
)
from ember.models.folder import char_tokenizer, save_model

CHARS = list("abcdefgh ")


def tiny_gpt(seed: int = 0) -> GPT:
    ember.manual_seed(seed)
    cfg = GPTConfig(block_size=16, vocab_size=len(CHARS), n_layer=2, n_head=2, n_embd=16)
    return GPT(cfg).eval()


def tiny_lstm() -> CharLSTM:
    ember.manual_seed(1)
    cfg = CharLSTMConfig(vocab_size=len(CHARS), embed_size=8, hidden_size=16, num_layers=1)
    return CharLSTM(cfg).eval()


def tiny_cnn() -> DigitsCNN:
    ember.manual_seed(2)
    return DigitsCNN(DigitsCNNConfig(width=4, num_classes=10)).eval()


def tiny_bert() -> Bert:
    ember.manual_seed(3)
    cfg = BertConfig(
        vocab_size=20,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    return Bert(cfg).eval()


def write_repo(root: Path) -> Path:
    tok = char_tokenizer(CHARS)
    save_model(tiny_gpt(0), root / "gpt" / "1", tokenizer=tok)
    save_model(tiny_gpt(7), root / "gpt" / "2", tokenizer=tok)
    save_model(tiny_lstm(), root / "lstm" / "1", tokenizer=tok)
    ember.save(tiny_cnn(), root / "cnn" / "3")
    ember.save(tiny_bert(), root / "bert" / "1")
    return root


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def run(coro):
    """Run a coroutine on a fresh event loop (no pytest-asyncio needed)."""
    return asyncio.run(coro)


def ids(rng: np.random.Generator, b: int, t: int) -> np.ndarray:
    return rng.integers(0, len(CHARS), size=(b, t)).astype(np.int64)
