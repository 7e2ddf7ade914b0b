"""Metadata, request checks and inference through the batcher, per architecture, against
calling the model directly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import ember
from conftest import CHARS, ids, run, tiny_bert, tiny_cnn, tiny_gpt, tiny_lstm
from ember.models import GPT, GPTConfig
from ember.serve import BadRequest, ModelRepository

TOL = {"rtol": 1e-5, "atol": 1e-5}


def direct_gpt(model, x: np.ndarray) -> np.ndarray:
    with ember.no_grad():
        return np.asarray(model(ember.tensor(x))[0])


def test_metadata_per_architecture(repo_dir):
    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load_all()
        try:
            return {m.name: m.metadata() for m in repo.models()}
        finally:
            await repo.close()

    meta = run(main())
    v = len(CHARS)
    assert meta["gpt"]["versions"] == ["2"]  # the highest version is the default
    assert meta["gpt"]["platform"] == "ember"
    assert meta["gpt"]["inputs"] == [{"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]}]
    assert meta["gpt"]["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, -1, v]}]
    assert meta["lstm"]["outputs"][0]["shape"] == [-1, -1, v]
    cnn_input = {"name": "input", "datatype": "FP32", "shape": [-1, 1, -1, -1]}
    assert meta["cnn"]["inputs"] == [cnn_input]
    assert meta["cnn"]["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    assert [t["name"] for t in meta["bert"]["inputs"]] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    assert meta["bert"]["outputs"][0] == {
        "name": "last_hidden_state",
        "datatype": "FP32",
        "shape": [-1, -1, 16],
    }


def test_infer_matches_the_models(repo_dir):
    rng = np.random.default_rng(0)
    x = ids(rng, 3, 7)
    img = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    bert_ids = rng.integers(0, 20, size=(2, 5)).astype(np.int64)

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load_all()
        try:
            return (
                await repo.get("gpt").infer({"input_ids": x}),
                await repo.get("gpt", 1).infer({"input_ids": x}),
                await repo.get("lstm").infer({"input_ids": x}),
                await repo.get("cnn").infer({"input": img}, ["logits"]),
                await repo.get("bert").infer({"input_ids": bert_ids}),
            )
        finally:
            await repo.close()

    gpt2, gpt1, lstm, cnn, bert = run(main())
    np.testing.assert_allclose(gpt2["logits"], direct_gpt(tiny_gpt(7), x), **TOL)
    np.testing.assert_allclose(gpt1["logits"], direct_gpt(tiny_gpt(0), x), **TOL)
    np.testing.assert_allclose(lstm["logits"], direct_gpt(tiny_lstm(), x), **TOL)
    with ember.no_grad():
        want_cnn = np.asarray(tiny_cnn()(ember.tensor(img)))
        want_bert = np.asarray(tiny_bert()(ember.tensor(bert_ids)))
    np.testing.assert_allclose(cnn["logits"], want_cnn, **TOL)
    np.testing.assert_allclose(bert["last_hidden_state"], want_bert, **TOL)
    assert gpt2["logits"].dtype == np.float32 and gpt2["logits"].shape == (3, 7, len(CHARS))


@pytest.mark.parametrize("instances", [1, 2])
def test_concurrent_requests_are_merged_and_never_mixed(repo_dir, instances):
    # 64 concurrent requests of different lengths and batch sizes: every answer equals the
    # model's answer for that input alone, and the batcher did merge them.
    rng = np.random.default_rng(1)
    inputs = [ids(rng, int(rng.integers(1, 3)), int(rng.integers(1, 17))) for _ in range(64)]
    batches = []

    def observer(event, **values):
        if event == "batch":
            batches.append(values)

    async def main():
        repo = ModelRepository(repo_dir, observer=observer)
        (repo_dir / "gpt" / "serving.json").write_text(
            f'{{"max_queue_delay_ms": 20, "instance_count": {instances}}}'
        )
        await repo.load("gpt")
        try:
            model = repo.get("gpt")
            return await asyncio.gather(*(model.infer({"input_ids": x}) for x in inputs))
        finally:
            await repo.close()

    outs = run(main())
    model = tiny_gpt(7)
    for x, out in zip(inputs, outs):
        assert out["logits"].shape == (*x.shape, len(CHARS))
        np.testing.assert_allclose(out["logits"], direct_gpt(model, x), **TOL)
    assert sum(b["requests"] for b in batches) == 64
    assert max(b["size"] for b in batches) > 1
    assert all(b["size"] <= 32 for b in batches)  # the default max_batch_size
    assert all(b["model"] == "gpt" and b["version"] == 2 for b in batches)


def test_bert_padding_is_masked(repo_dir):
    rng = np.random.default_rng(2)
    short = rng.integers(0, 20, size=(1, 3)).astype(np.int64)
    long = rng.integers(0, 20, size=(2, 9)).astype(np.int64)
    mask = np.ones_like(long)
    mask[1, 6:] = 0

    async def main():
        repo = ModelRepository(repo_dir)
        (repo_dir / "bert" / "serving.json").write_text('{"max_queue_delay_ms": 50}')
        await repo.load("bert")
        try:
            m = repo.get("bert")
            return await asyncio.gather(
                m.infer({"input_ids": short}),
                m.infer({"input_ids": long, "attention_mask": mask}),
            )
        finally:
            await repo.close()

    a, b = run(main())
    bert = tiny_bert()
    with ember.no_grad():
        want_a = np.asarray(bert(ember.tensor(short)))
        want_b = np.asarray(bert(ember.tensor(long), ember.tensor(mask)))
    np.testing.assert_allclose(a["last_hidden_state"], want_a, **TOL)
    np.testing.assert_allclose(b["last_hidden_state"], want_b, **TOL)


@pytest.mark.parametrize(
    ("name", "datatype", "shape", "match"),
    [
        ("tokens", "INT64", [1, 2], "has no input 'tokens'"),
        ("input_ids", "FP32", [1, 2], "takes INT64, got 'FP32'"),
        ("input_ids", "INT64", [3], r"shape \[3\], expected rank 2"),
        ("input_ids", "INT64", [1, -2], r"dim 1 must be in \[1, 16\], got -2"),
        ("input_ids", "INT64", [1, 0], "dim 1"),
        ("input_ids", "INT64", [1, 17], r"dim 1 must be in \[1, 16\], got 17"),
        ("input_ids", "INT64", [33, 4], r"dim 0 must be in \[1, 32\]"),
        ("input_ids", "INT64", [2**40, 2**40], "dim 0"),
        ("input_ids", "INT64", [1.5, 2], "list of integers"),
        ("input_ids", "INT64", "12", "list of integers"),
    ],
)
def test_check_request_rejects(repo_dir, name, datatype, shape, match):
    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load("gpt")
        try:
            repo.get("gpt").check_request(name, datatype, shape)
        finally:
            await repo.close()

    with pytest.raises(BadRequest, match=match):
        run(main())


def test_element_limit_and_overflow(repo_dir):
    async def main():
        repo = ModelRepository(repo_dir)
        (repo_dir / "cnn" / "serving.json").write_text('{"max_batch_size": 65536}')
        await repo.load("cnn")
        try:
            m = repo.get("cnn")
            m.check_request("input", "FP32", [4, 1, 8, 8])  # fine
            with pytest.raises(BadRequest, match="elements, over the limit"):
                m.check_request("input", "FP32", [65536, 1, 4096, 4096])
            with pytest.raises(BadRequest, match=r"dim 1 must be = 1"):
                m.check_request("input", "FP32", [1, 2**62, 2**62, 2**62])
        finally:
            await repo.close()

    run(main())


def test_infer_rejects_bad_inputs(repo_dir):
    x = np.zeros((1, 4), np.int64)

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load("gpt")
        await repo.load("bert")
        try:
            m, bert = repo.get("gpt"), repo.get("bert")
            cases = [
                (m.infer({}), "needs input 'input_ids'"),
                (m.infer({"input_ids": x.astype(np.int32)}), "takes INT64, got numpy int32"),
                (m.infer({"input_ids": x, "extra": x}), "has no input 'extra'"),
                (m.infer({"input_ids": x + len(CHARS)}), r"token ids must be in \[0, 9\)"),
                (m.infer({"input_ids": x}, ["probs"]), "has no output 'probs'"),
                (m.infer({"input_ids": [[1, 2]]}), "must be a numpy array"),
                (
                    bert.infer({"input_ids": x, "attention_mask": np.ones((1, 3), np.int64)}),
                    r"input 'attention_mask' has shape \[1, 3\], input_ids \[1, 4\]",
                ),
                (
                    bert.infer({"input_ids": x, "attention_mask": np.ones((2, 4), np.int64)}),
                    "batch size",
                ),
                (m.embed(["hi"]), "not a sentence encoder"),
            ]
            for coro, match in cases:
                with pytest.raises(BadRequest, match=match):
                    await coro
        finally:
            await repo.close()

    run(main())


def _pruned(model):
    ember.prune.magnitude(model, 0.5)
    ember.prune.remove(model)
    return model


@pytest.mark.parametrize(
    "compress",
    [
        ember.quant.quantize_dynamic,
        lambda m: ember.quant.quantize_weights(m, scheme="q8_0"),
        _pruned,
    ],
    ids=["int8-dynamic", "q8_0", "pruned"],
)
def test_quantized_and_pruned_folders_serve_like_any_other(tmp_path, compress):
    ember.manual_seed(5)
    cfg = GPTConfig(block_size=16, vocab_size=len(CHARS), n_layer=1, n_head=2, n_embd=32)
    model = compress(GPT(cfg).eval())
    ember.save(model, tmp_path / "repo" / "small" / "1")
    x = ids(np.random.default_rng(4), 2, 6)

    async def main():
        repo = ModelRepository(tmp_path / "repo")
        await repo.load("small")
        out = await repo.get("small").infer({"input_ids": x})
        await repo.close()
        return out

    np.testing.assert_allclose(run(main())["logits"], direct_gpt(model, x), **TOL)
