"""The HTTP layer over a stand-in repository (defined here, in the test only): routes,
the error shape, auth, body limits, binary responses, metrics and the OpenAI routes,
through FastAPI's in-process TestClient. The real server is tested in test_server.py."""

import base64
import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from ember.serve import codec  # noqa: E402
from ember.serve.app import ServerOptions, create_app  # noqa: E402
from ember.serve.errors import BadRequest, NotFound, Unavailable  # noqa: E402


class Doubler:
    """A model with one FP32 [-1, 3] input ``x`` and output ``y = 2 x``."""

    name, version, kind = "double", 1, "fake"
    inputs = (SimpleNamespace(name="x", datatype="FP32", shape=(-1, 3)),)
    outputs = (SimpleNamespace(name="y", datatype="FP32", shape=(-1, 3)),)
    full = False

    def metadata(self):
        return {"name": self.name, "versions": ["1"], "platform": "ember"}

    def check_request(self, name, datatype, shape):
        if name != "x" or datatype != "FP32" or len(shape) != 2 or shape[1] != 3:
            raise BadRequest(f"input {name!r}: expected FP32 [-1, 3], got {datatype} {shape}")

    async def infer(self, inputs, requested_outputs=None):
        if self.full:
            raise Unavailable("queue full", retry_after=2)
        if inputs["x"].shape[0] == 13:
            raise RuntimeError("a bug in the model")
        if requested_outputs and requested_outputs != ["y"]:
            raise BadRequest(f"no output {requested_outputs}")
        return {"y": inputs["x"] * 2}

    async def embed(self, texts):
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    async def completion_stream(self, prompt, *, max_tokens, temperature, top_k, seed):
        if "~" in prompt:
            raise BadRequest("unknown character '~'")
        for i in range(max_tokens):
            yield "ab"[i % 2]


class Repo:
    def __init__(self):
        self.model = Doubler()
        self.loaded = []

    def index(self):
        return [{"name": "double", "version": "1", "state": "READY", "reason": ""}]

    async def load(self, name):
        self.loaded.append(name)

    async def unload(self, name):
        self.loaded.remove(name)

    def get(self, name, version=None):
        if name != "double" or version not in (None, 1):
            raise NotFound(f"no model {name!r} version {version}")
        return self.model

    def models(self):
        return [self.model]

    async def load_all(self):
        pass

    async def close(self):
        pass


@pytest.fixture
def repo():
    return Repo()


def _client(repo, **options):
    return TestClient(create_app(repo, ServerOptions(**options)), raise_server_exceptions=False)


def test_health_metadata_and_json_infer(repo):
    with _client(repo) as c:
        assert c.get("/v2/health/live").json() == {"live": True}
        assert c.get("/v2/health/ready").status_code == 200
        meta = c.get("/v2").json()
        assert meta["name"] == "ember" and "binary_tensor_data" in meta["extensions"]
        assert c.get("/v2/models/double").json()["name"] == "double"
        assert c.get("/v2/models/double/versions/1/ready").json()["ready"] is True
        body = {
            "id": "q",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}],
        }
        r = c.post("/v2/models/double/infer", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == "q"
        assert r.json()["outputs"][0]["data"] == [2.0, 4.0, 6.0]


def test_binary_infer_through_the_client_codec(repo):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    body, hl = codec.encode_infer_request({"x": x})
    with _client(repo) as c:
        r = c.post("/v2/models/double/infer", content=body, headers={codec.HEADER_LENGTH: str(hl)})
        assert r.status_code == 200
        out = codec.decode_infer_response(r.content, r.headers[codec.HEADER_LENGTH])
    np.testing.assert_array_equal(out["y"], 2 * x)


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/v2/models/nope/infer", b"{}", 404),
        ("/v2/models/double/versions/7/infer", b"{}", 404),
        ("/v2/models/double/versions/x/infer", b"{}", 400),
        ("/v2/models/double/versions/\u00b2/infer", b"{}", 400),
        ("/v2/models/double/versions/" + "9" * 5000 + "/infer", b"{}", 400),
        ("/v2/models/double/infer", b"", 400),
        ("/v2/models/double/infer", b"{bad", 400),
        (
            "/v2/models/double/infer",
            json.dumps(
                {"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
            ),
            400,
        ),
        (
            "/v2/models/double/infer",
            json.dumps(
                {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1]}]}
            ),
            400,
        ),
        (
            "/v2/models/double/infer",
            json.dumps(
                {
                    "inputs": [
                        {"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}
                    ],
                    "outputs": [{"name": "zz"}],
                }
            ),
            400,
        ),
        ("/v2/nothing/here", b"", 404),
    ],
)
def test_errors_are_json_with_their_status(repo, path, body, status):
    with _client(repo) as c:
        r = c.post(path, content=body)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_body_limit_is_413(repo):
    with _client(repo, max_body_bytes=100) as c:
        r = c.post("/v2/models/double/infer", content=b"x" * 101)
        assert r.status_code == 413 and "limit" in r.json()["error"]
        r = c.post("/v2/models/double/infer", content=b"x", headers={"content-length": "9" * 5000})
        assert r.status_code in (400, 413)

        def chunks():  # no Content-Length: the limit still holds while reading
            for _ in range(10):
                yield b"y" * 50

        r = c.post("/v2/models/double/infer", content=chunks())
        assert r.status_code == 413
        big = {"model": "double", "input": "x" * 200}
        assert c.post("/v1/embeddings", json=big).status_code == 413
        r = c.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500 and r.json()["error"]


def test_full_queue_is_503_with_retry_after(repo):
    repo.model.full = True
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    with _client(repo) as c:
        r = c.post("/v2/models/double/infer", json=body)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json() == {"error": "queue full"}


def test_api_key_guards_load_unload_and_optionally_inference(repo):
    with _client(repo, api_key="s3cret") as c:
        assert c.post("/v2/repository/models/double/load").status_code == 401
        bad = {"Authorization": "Bearer wrong"}
        assert c.post("/v2/repository/models/double/load", headers=bad).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert c.post("/v2/repository/models/double/load", headers=good).status_code == 200
        assert c.post("/v2/repository/models/double/unload", headers=good).status_code == 200
        assert c.get("/v2/models/double").status_code == 200  # inference stays open
        assert c.post("/v2/repository/index").json()[0]["state"] == "READY"
    with _client(repo, api_key="s3cret", protect_inference=True) as c:
        assert c.get("/v2/models/double").status_code == 401
        assert c.post("/v1/embeddings", json={"model": "double", "input": "a"}).status_code == 401
        assert c.get("/v2/models/double", headers=good).status_code == 200
        assert c.get("/v2/health/ready").status_code == 200  # health stays open


def test_metrics_count_requests_by_status(repo):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    with _client(repo) as c:
        c.post("/v2/models/double/infer", json=body)
        c.post("/v2/models/double/infer", content=b"{")
        text = c.get("/metrics").text
    assert 'ember_requests_total{model="double",status="200",version="1"} 1.0' in text
    assert 'ember_requests_total{model="double",status="400",version="1"} 1.0' in text
    assert "ember_models_loaded 1.0" in text


def test_openai_embeddings_float_and_base64(repo):
    with _client(repo) as c:
        r = c.post("/v1/embeddings", json={"model": "double", "input": ["abc", "de"]})
        assert r.status_code == 200
        assert [d["embedding"] for d in r.json()["data"]] == [[3.0, 1.0], [2.0, 1.0]]
        r = c.post(
            "/v1/embeddings", json={"model": "double", "input": "abc", "encoding_format": "base64"}
        )
        raw = base64.b64decode(r.json()["data"][0]["embedding"])
        assert np.frombuffer(raw, "<f4").tolist() == [3.0, 1.0]
        assert c.post("/v1/embeddings", json={"model": "double", "input": []}).status_code == 400
        assert c.post("/v1/embeddings", json={"input": "a"}).status_code == 400
        assert c.get("/v1/models").json()["data"][0]["id"] == "double"


def test_openai_completions_plain_and_streamed(repo):
    with _client(repo) as c:
        r = c.post("/v1/completions", json={"model": "double", "prompt": "hi", "max_tokens": 3})
        assert r.json()["choices"][0]["text"] == "aba"
        r = c.post(
            "/v1/completions",
            json={"model": "double", "prompt": "hi", "max_tokens": 3, "stream": True},
        )
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
        assert text == "aba"
        r = c.post("/v1/completions", json={"model": "double", "prompt": "~", "stream": True})
        assert r.status_code == 400 and "unknown character" in r.json()["error"]
        r = c.post("/v1/completions", json={"model": "double", "prompt": "a", "n": 2})
        assert r.status_code == 400


def test_an_unexpected_exception_is_a_json_500_and_the_server_goes_on(repo):
    x = np.zeros((13, 3), np.float32)
    body, hl = codec.encode_infer_request({"x": x})
    with _client(repo) as c:
        r = c.post("/v2/models/double/infer", content=body, headers={codec.HEADER_LENGTH: str(hl)})
        assert r.status_code == 500 and r.json() == {"error": "internal error (RuntimeError)"}
        assert c.get("/v2/health/live").status_code == 200
