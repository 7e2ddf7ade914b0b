"""Without the tokenizers library (the "text" extra), SentenceEncoder says how to get it."""

import sys

import pytest

from ember.models import SentenceEncoder


def test_missing_tokenizers_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers -> ImportError
    with pytest.raises(ImportError, match=r'pip install "ember\[text\]"'):
        SentenceEncoder.from_pretrained(tmp_path)
