"""The server process itself: a SIGTERM lets a request in flight finish (graceful
shutdown), and ``--workers 2`` serves from two processes."""

import json
import signal

import httpx
import numpy as np
from serve_helpers import Server, build_repository, random_ids

from ember.serve import Client


def test_sigterm_drains_a_streaming_request(tmp_path):
    server = Server(build_repository(tmp_path / "repo", minilm=False), tmp_path / "log")
    try:
        server.wait_ready()
        body = {"model": "gpt", "prompt": "ab", "max_tokens": 300, "stream": True}
        with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            server.proc.send_signal(signal.SIGTERM)  # mid-stream
            rest = [line[6:] for line in lines if line.startswith("data: ")]
        pieces = [json.loads(e)["choices"][0]["text"] for e in [first[6:], *rest[:-1]]]
        assert rest[-1] == "[DONE]" and len("".join(pieces)) == 300
        # uvicorn re-raises the SIGTERM once it has shut down cleanly
        assert server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        server.stop()


def test_two_workers(tmp_path):
    server = Server(
        build_repository(tmp_path / "repo", minilm=False), tmp_path / "log", "--workers", "2"
    )
    try:
        server.wait_ready()
        ids = random_ids(np.random.default_rng(5), 1, 4)
        with Client(server.url) as c:
            answers = [c.infer("gpt", {"input_ids": ids})["logits"] for _ in range(6)]
        for a in answers[1:]:
            np.testing.assert_allclose(a, answers[0], rtol=1e-5, atol=1e-5)
    finally:
        server.stop()
