"""Discovery, versions, strict serving.json, queue limits and load/unload/reload while
requests are in flight."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

import ember
from conftest import CHARS, ids, run, tiny_gpt
from ember.models.folder import char_tokenizer, save_model
from ember.serve import BadRequest, ModelRepository, NotFound, Unavailable


def states(repo: ModelRepository) -> dict[tuple[str, str], str]:
    return {(e["name"], e["version"]): e["state"] for e in repo.index()}


def test_index_get_and_versions(repo_dir):
    (repo_dir / "gpt" / "notaversion").mkdir()
    (repo_dir / ".hidden").mkdir()

    async def main():
        repo = ModelRepository(repo_dir)
        before = states(repo)
        loading = asyncio.ensure_future(repo.load("gpt"))
        await asyncio.sleep(0)  # the load has started: its versions are LOADING
        assert states(repo)[("gpt", "2")] == "LOADING"
        await loading
        await repo.load_all()
        after = states(repo)
        assert repo.get("gpt").version == 2 and repo.get("gpt", 1).version == 1
        with pytest.raises(NotFound, match="unknown model 'nope'"):
            repo.get("nope")
        with pytest.raises(NotFound, match="no version 5"):
            repo.get("gpt", 5)
        await repo.unload("gpt")
        with pytest.raises(Unavailable, match="not loaded"):
            repo.get("gpt")
        with pytest.raises(Unavailable, match="version 1 is UNAVAILABLE: unloaded"):
            repo.get("gpt", 1)
        unloaded = states(repo)
        with pytest.raises(NotFound):
            await repo.load("nope")
        with pytest.raises(NotFound):
            await repo.unload("nope")
        await repo.close()
        return before, after, unloaded

    before, after, unloaded = run(main())
    keys = {("bert", "1"), ("cnn", "3"), ("gpt", "1"), ("gpt", "2"), ("lstm", "1")}
    assert set(before) == keys and set(before.values()) == {"UNAVAILABLE"}
    assert set(after) == keys and set(after.values()) == {"READY"}
    assert unloaded[("gpt", "2")] == "UNAVAILABLE" and unloaded[("cnn", "3")] == "READY"


def test_a_bad_folder_or_serving_json_fails_only_that_model(repo_dir):
    (repo_dir / "gpt" / "serving.json").write_text('{"max_batch_size": 4, "colour": "red"}')
    (repo_dir / "cnn" / "3" / "model.safetensors").write_bytes(b"garbage")
    shutil.copytree(repo_dir / "lstm" / "1", repo_dir / "lstm" / "2")
    (repo_dir / "lstm" / "2" / "config.json").write_text("{")

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load_all()
        index = {(e["name"], e["version"]): e for e in repo.index()}
        with pytest.raises(BadRequest, match="unknown key 'colour'"):
            await repo.load("gpt")
        ok = await repo.get("bert").infer({"input_ids": np.ones((1, 3), np.int64)})
        lstm = repo.get("lstm")  # version 2 is broken, version 1 serves
        await repo.close()
        return index, ok, lstm.version

    index, ok, lstm_version = run(main())
    for v in ("1", "2"):
        assert index[("gpt", v)]["state"] == "UNAVAILABLE"
        assert "unknown key 'colour'" in index[("gpt", v)]["reason"]
        assert "serving.json" in index[("gpt", v)]["reason"]
    assert index[("cnn", "3")]["state"] == "UNAVAILABLE"
    assert "model.safetensors" in index[("cnn", "3")]["reason"]
    assert index[("lstm", "2")]["state"] == "UNAVAILABLE"
    assert index[("lstm", "1")]["state"] == "READY" and lstm_version == 1
    assert index[("bert", "1")]["state"] == "READY"
    assert ok["last_hidden_state"].shape == (1, 3, 16)


def test_serving_json_renames_and_narrows(repo_dir):
    (repo_dir / "cnn" / "serving.json").write_text(
        '{"inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],'
        ' "outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, 10]}]}'
    )
    img = np.zeros((2, 1, 8, 8), np.float32)

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load("cnn")
        m = repo.get("cnn")
        out = await m.infer({"image": img})
        with pytest.raises(BadRequest, match="dim 2 must be = 8"):
            m.check_request("image", "FP32", [1, 1, 9, 8])
        meta = m.metadata()
        await repo.close()
        return out, meta

    out, meta = run(main())
    assert out["scores"].shape == (2, 10)
    assert meta["inputs"][0]["name"] == "image" and meta["inputs"][0]["shape"] == [-1, 1, 8, 8]


def test_full_queue_is_unavailable_with_retry_after(repo_dir):
    (repo_dir / "gpt" / "serving.json").write_text('{"max_queue_size": 2, "max_batch_size": 1}')
    x = np.zeros((1, 8), np.int64)

    async def main():
        repo = ModelRepository(repo_dir)
        await repo.load("gpt")
        m = repo.get("gpt")
        # All 12 are submitted before the batcher runs: 2 fit the queue.
        got = await asyncio.gather(
            *(m.infer({"input_ids": x}) for _ in range(12)), return_exceptions=True
        )
        again = await m.infer({"input_ids": x})  # the queue drained: accepted again
        await repo.close()
        return got, again

    got, again = run(main())
    full = [g for g in got if isinstance(g, Unavailable)]
    assert len(full) == 10 and all(g.status == 503 and g.retry_after >= 1 for g in full)
    assert "requests queued" in str(full[0])
    assert sum(isinstance(g, dict) for g in got) == 2 and "logits" in again


def test_reload_and_unload_under_load_drop_nothing(repo_dir):
    rng = np.random.default_rng(3)
    inputs = [ids(rng, 1, int(rng.integers(1, 17))) for _ in range(120)]
    with ember.no_grad():
        answers = {
            seed: [np.asarray(tiny_gpt(seed)(ember.tensor(x))[0]) for x in inputs]
            for seed in (7, 11)
        }

    serving = repo_dir / "gpt" / "serving.json"

    async def main():
        repo = ModelRepository(repo_dir)
        # The old version holds its requests 300 ms in the queue, so the swap happens
        # while they wait: they must still be answered, by the old version.
        serving.write_text('{"max_queue_delay_ms": 300, "max_batch_size": 64}')
        await repo.load("gpt")
        results: list = [None] * len(inputs)

        async def client(i: int) -> None:
            await asyncio.sleep(0.001 * (i % 20))  # spread over the reload
            results[i] = await repo.get("gpt").infer({"input_ids": inputs[i]})

        async def reload() -> None:
            # A new version 2 on disk, swapped in while requests are in flight.
            await asyncio.sleep(0.03)
            save_model(tiny_gpt(11), repo_dir / "gpt" / "2", tokenizer=char_tokenizer(CHARS))
            serving.write_text('{"max_queue_delay_ms": 2}')
            await repo.load("gpt")

        half = len(inputs) // 2
        await asyncio.gather(reload(), *(client(i) for i in range(half)))
        await asyncio.gather(*(client(i) for i in range(half, len(inputs))))
        # Unload while requests are in flight: the accepted ones finish.
        m = repo.get("gpt")
        inflight = [asyncio.ensure_future(m.infer({"input_ids": x})) for x in inputs[:20]]
        await asyncio.sleep(0)
        await repo.unload("gpt")
        done = await asyncio.gather(*inflight)
        with pytest.raises(Unavailable):
            await repo.get("gpt").infer({"input_ids": inputs[0]})
        with pytest.raises(Unavailable, match="unloading"):
            await m.infer({"input_ids": inputs[0]})  # a closed model refuses new work
        await repo.close()
        return results, done

    results, done = run(main())
    half = len(inputs) // 2
    for i, r in enumerate(results):
        want = answers[7 if i < half else 11][i]  # the first half was queued before the swap
        np.testing.assert_allclose(r["logits"], want, rtol=1e-5, atol=1e-5)
    for i, r in enumerate(done):
        np.testing.assert_allclose(r["logits"], answers[11][i], rtol=1e-5, atol=1e-5)
