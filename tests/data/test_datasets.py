"""ember.data.datasets: tinyshakespeare char data and the digits loader."""

import numpy as np
import pytest

import ember
from ember.data import DataLoader
from ember.data.datasets import CharDataset, CharVocab, load_tinyshakespeare, tinyshakespeare


def test_char_dataset_windows():
    ds = CharDataset("hello world", block_size=4)
    assert ds.vocab_size == len(set("hello world"))
    assert len(ds) == len("hello world") - 4
    x, y = ds[0]
    assert ds.decode(x) == "hell" and ds.decode(y) == "ello"
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 4) and xb.dtype is ember.int64
    assert [ds.decode(r) for r in xb] == ["hell", "ello", "llo "]
    assert ds.decode(ds.encode("low")) == "low"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ds.encode("z")
    with pytest.raises(ValueError, match="block_size"):
        CharDataset("abc", block_size=3)


def test_tinyshakespeare_split_and_random_windows():
    text = load_tinyshakespeare()
    tr, va = tinyshakespeare("train", 16), tinyshakespeare("val", 16)
    assert tr.vocab_size == va.vocab_size == 65
    assert len(tr) + len(va) + 32 == len(text)
    assert tr.decode(tr[0][0]) == text[:16]
    cut = int(len(text) * 0.9)
    assert va.decode(va[0][0]) == text[cut : cut + 16]
    b1, b2 = va.batches(4, generator=11), va.batches(4, generator=11)
    x1, y1 = b1()
    x2, _ = b2()
    assert x1.shape == (4, 16) and np.array_equal(np.asarray(x1), np.asarray(x2))
    np.testing.assert_array_equal(np.asarray(x1)[:, 1:], np.asarray(y1)[:, :-1])
    state = b1.state_dict()
    nxt = np.asarray(b1()[0])
    b2.load_state_dict(state)
    np.testing.assert_array_equal(np.asarray(next(b2)[0]), nxt)
    with pytest.raises(ValueError, match="split"):
        tinyshakespeare("test")
    assert CharVocab("ab").decode([1, 0]) == "ba"


def test_load_digits():
    pytest.importorskip("sklearn")
    from ember.data.datasets import load_digits

    d = load_digits()
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.y_train.dtype is ember.int64 and d.x_train.dtype is ember.float32
    assert abs(float(np.asarray(d.x_train).mean())) < 1e-4
    assert sorted(set(d.y_test.tolist())) == list(range(10))


def test_load_digits_without_sklearn(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    from ember.data.datasets import load_digits

    with pytest.raises(ImportError, match=r"ember\[examples\]"):
        load_digits()
