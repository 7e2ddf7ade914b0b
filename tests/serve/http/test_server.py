"""The real server over loopback: every v2 route with raw httpx, tritonclient.http
(binary and JSON) and ember.serve.Client; malformed requests; concurrent requests that
must each get their own answer; API keys; a reload under load that drops nothing."""

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import API_KEY, free_port, random_ids, save_gpt

import ember
from ember.models.folder import load_model
from ember.serve import Client

KEY = {"Authorization": f"Bearer {API_KEY}"}


def _local_cnn(repository, x):
    model, _ = load_model(repository / "cnn" / "1")
    model.eval()
    with ember.no_grad():
        return np.asarray(model(ember.tensor(x)))


def test_v2_routes(server):
    get = lambda path: httpx.get(server.url + path, timeout=10)  # noqa: E731
    assert get("/v2/health/live").status_code == 200
    assert get("/v2/health/ready").status_code == 200
    meta = get("/v2").json()
    assert meta["name"] == "ember" and "model_repository" in meta["extensions"]
    gpt = get("/v2/models/gpt").json()
    assert gpt["inputs"][0] == {"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]}
    assert gpt["outputs"][0]["name"] == "logits"
    assert get("/v2/models/gpt/versions/1").json()["versions"] == ["1"]
    assert get("/v2/models/cnn/ready").status_code == 200
    assert get("/v2/models/cnn/versions/9/ready").status_code == 404
    index = httpx.post(server.url + "/v2/repository/index", timeout=10).json()
    states = {(m["name"], m["version"]): m["state"] for m in index}
    assert states[("gpt", "1")] == states[("cnn", "1")] == "READY"


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient(server, repository, binary):
    tc = pytest.importorskip("tritonclient.http")
    client = tc.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("cnn")
        assert client.get_model_metadata("cnn")["inputs"][0]["datatype"] == "FP32"
        x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
        inp = tc.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = tc.InferRequestedOutput("logits", binary_data=binary)
        logits = client.infer("cnn", [inp], outputs=[out]).as_numpy("logits")
        np.testing.assert_allclose(logits, _local_cnn(repository, x), rtol=1e-5, atol=1e-5)
        # no outputs named: tritonclient asks for all of them as binary data
        ids = random_ids(np.random.default_rng(1), 2, 5)
        inp = tc.InferInput("input_ids", list(ids.shape), "INT64")
        inp.set_data_from_numpy(ids, binary_data=binary)
        assert client.infer("gpt", [inp]).as_numpy("logits").shape == (2, 5, 10)
        index = client.get_model_repository_index()
        assert {m["name"] for m in index} >= {"gpt", "cnn"}
        client.load_model("cnn", headers=KEY)  # the repository extension, with the key
        with pytest.raises(tc.InferenceServerException):
            client.load_model("cnn")
    finally:
        client.close()


def test_ember_client_ready_is_false_without_a_server():
    with Client(f"http://127.0.0.1:{free_port()}", timeout=5) as c:
        assert not c.ready()


def test_ember_client(server, repository):
    x = np.random.default_rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with Client(server.url) as c:
        assert c.ready()
        out = c.infer("cnn", {"input": x})
        np.testing.assert_allclose(out["logits"], _local_cnn(repository, x), rtol=1e-5, atol=1e-5)
        assert c.infer("cnn", {"input": x}, version=1, outputs=["logits"]).keys() == {"logits"}
        assert {m["name"] for m in c.models()} >= {"gpt", "cnn"}
        with pytest.raises(ember.serve.NotFound):
            c.infer("nope", {"input": x})
        with pytest.raises(ember.serve.BadRequest):
            c.infer("cnn", {"input": x.astype(np.float64)})


def _v2(name, datatype, shape, data):
    return json.dumps(
        {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}
    )


@pytest.mark.parametrize(
    "path, body, headers, status",
    [
        ("/v2/models/gpt/infer", "{bad json", {}, 400),
        ("/v2/models/gpt/infer", "", {}, 400),
        ("/v2/models/gpt/infer", _v2("input_ids", "FP32", [1, 2], [1, 2]), {}, 400),
        ("/v2/models/gpt/infer", _v2("input_ids", "INT64", [2], [1, 2]), {}, 400),
        ("/v2/models/gpt/infer", _v2("input_ids", "INT64", [1, 3], [1, 2]), {}, 400),
        ("/v2/models/gpt/infer", _v2("input_ids", "INT64", [1, 2], [1, 99]), {}, 400),
        ("/v2/models/gpt/infer", _v2("input_ids", "INT64", [2**40, 2**40], [1]), {}, 400),
        ("/v2/models/gpt/infer", _v2("wrong", "INT64", [1, 2], [1, 2]), {}, 400),
        ("/v2/models/nope/infer", _v2("input_ids", "INT64", [1, 2], [1, 2]), {}, 404),
        ("/v2/models/gpt/versions/7/infer", _v2("input_ids", "INT64", [1, 2], [1, 2]), {}, 404),
        (
            "/v2/models/gpt/infer",
            _v2("input_ids", "INT64", [1, 2], [1, 2]),
            {"Inference-Header-Content-Length": "100000"},
            400,
        ),
        ("/v2/models/gpt/infer", "x" * (65 << 20), {}, 413),
    ],
)
def test_malformed_requests_are_4xx_json(server, path, body, headers, status):
    r = httpx.post(server.url + path, content=body, headers=headers, timeout=60)
    assert r.status_code == status, r.text
    assert r.json()["error"]
    assert httpx.get(server.url + "/v2/health/live", timeout=10).status_code == 200


def test_concurrent_requests_each_get_their_own_answer(server):
    rng = np.random.default_rng(3)
    ids = [random_ids(rng, 1, int(n)) for n in rng.integers(1, 20, size=32)]
    with Client(server.url) as c:
        sequential = [c.infer("gpt", {"input_ids": x})["logits"] for x in ids]

    def one(x):
        with Client(server.url) as c:
            return c.infer("gpt", {"input_ids": x})["logits"]

    with ThreadPoolExecutor(32) as pool:
        concurrent = list(pool.map(one, ids))
    for x, a, b in zip(ids, sequential, concurrent):
        assert b.shape == (1, x.shape[1], 10)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    access = [json.loads(line) for line in server.log.read_text().splitlines() if line[:1] == "{"]
    last = access[-1]  # one JSON line per request, on the server's stderr
    assert (last["method"], last["path"], last["status"]) == ("POST", "/v2/models/gpt/infer", 200)
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    assert 'ember_requests_total{model="gpt",status="200",version="1"}' in metrics
    assert 'ember_batch_size_count{model="gpt",version="1"}' in metrics


def test_api_key_guards_load_and_unload(server):
    url = server.url + "/v2/repository/models/cnn/load"
    assert httpx.post(url, timeout=60).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer no"}, timeout=60).status_code == 401
    assert httpx.post(url, headers=KEY, timeout=60).status_code == 200


def test_reload_under_load_drops_nothing(server, repository):
    """Version 2 appears on disk and is loaded while clients keep sending: every request
    is answered 200 (by version 1 or 2), then version 2 serves by default."""
    save_gpt(repository / "gpt" / "2", seed=7)
    ids = random_ids(np.random.default_rng(4), 1, 6)
    statuses: list[int] = []
    stop = threading.Event()

    def hammer():
        with Client(server.url) as c:
            for _ in range(200):  # bounded
                if stop.is_set():
                    return
                try:
                    c.infer("gpt", {"input_ids": ids})
                    statuses.append(200)
                except ember.serve.ServeError as e:
                    statuses.append(e.status)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        r = httpx.post(server.url + "/v2/repository/models/gpt/load", headers=KEY, timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert r.status_code == 200, r.text
    assert statuses and set(statuses) == {200}
    assert httpx.get(server.url + "/v2/models/gpt", timeout=10).json()["versions"] == ["2"]
    r = httpx.post(server.url + "/v2/repository/models/gpt/unload", headers=KEY, timeout=60)
    assert r.status_code == 200
    assert httpx.get(server.url + "/v2/models/gpt/ready", timeout=10).status_code in (404, 503)
    r = httpx.post(server.url + "/v2/repository/models/gpt/load", headers=KEY, timeout=120)
    assert r.status_code == 200
    assert httpx.get(server.url + "/v2/models/gpt/ready", timeout=10).status_code == 200


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_server_kernel_threads_sleep_when_idle(server):
    # `ember serve` re-runs itself (same process id) with passive OpenMP waiting unless the
    # user chose a policy: spinning kernel threads would take the event loop's cores
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    want = os.environ.get("OMP_WAIT_POLICY", "PASSIVE").encode()
    assert b"OMP_WAIT_POLICY=" + want in environ
