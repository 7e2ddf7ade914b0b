"""Fuzzing model folders (config.json + model.safetensors) as a hostile user would.

A tiny real GPT and CharLSTM folder are saved, then hypothesis mutates config.json values,
config.json's bytes, model.safetensors' bytes and its header JSON. Every load runs in one
long-lived child process under a 2 GB address-space limit, with a timeout per load, so a
crash, a hang or a huge allocation fails the example instead of the test run. Loading the
folder, and the weights file alone, must either raise ember.serialization.ModelFileError
or succeed; a loaded model holds exactly the tensors the file holds (read independently
with the safetensors package).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember.models.char_lstm import CharLSTM, CharLSTMConfig
from ember.models.folder import CONFIG, WEIGHTS, save_model
from ember.models.gpt import GPT, GPTConfig

PACKAGE_ROOT = Path(ember.__file__).parent.parent
STATE = "state.safetensors"
LOAD_TIMEOUT_S = 20.0
MEMORY_LIMIT = 2 << 30

# The child: one load per line of stdin, one JSON verdict per line of stdout.
WORKER = f"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
import numpy as np
from safetensors.numpy import load_file
import ember
from ember.models.folder import load_model
from ember.serialization import ModelFileError, load_tensors


def single_files(folder):
    # The weights and the state file alone, as checkpoints are read (no config shapes
    # to check first, no sha256): read, mapped, converted. None, or what went wrong.
    loads = [
        ("load_tensors", lambda: load_tensors(folder + "/model.safetensors")),
        ("load", lambda: ember.load(folder + "/model.safetensors")),
        ("load mmap", lambda: ember.load(folder + "/model.safetensors", mmap=True)),
        ("load bf16", lambda: ember.load(folder + "/model.safetensors", dtype="bfloat16")),
        ("state", lambda: ember.load(folder + "/state.safetensors")),
        ("state mmap", lambda: ember.load(folder + "/state.safetensors", mmap=True)),
    ]
    for what, load in loads:
        try:
            load()
        except ModelFileError as e:
            if folder not in str(e):
                return f"{{what}}: the error does not name the file: {{e}}"
        except BaseException as e:
            return f"{{what}}: {{type(e).__name__}}: {{e}}"[:500]
    return None


for line in sys.stdin:
    folder = line.strip()
    problem = single_files(folder)
    if problem is not None:
        print(json.dumps({{"other": problem}}), flush=True)
        continue
    try:
        model, _ = load_model(folder, mmap=True)
        model, _ = load_model(folder)
    except ModelFileError as e:
        print(json.dumps({{"error": str(e)}}), flush=True)
        continue
    except BaseException as e:
        print(json.dumps({{"other": f"{{type(e).__name__}}: {{e}}"[:500]}}), flush=True)
        continue
    try:
        ref = load_file(folder + "/model.safetensors")
    except Exception as e:
        verdict = {{"other": f"ember loaded a file safetensors rejects: {{e}}"}}
        print(json.dumps(verdict), flush=True)
        continue
    state = {{k: np.asarray(v.detach()) for k, v in model.state_dict().items()}}
    tied = model.config.tie_weights if hasattr(model.config, "tie_weights") else False
    differ = [
        k for k, v in state.items()
        if not (tied and k in ("lm_head.weight", "transformer.wte.weight"))
        and v.tobytes() != ref[k].astype(np.float32).tobytes()
    ]
    print(json.dumps({{"loaded": differ}}), flush=True)
"""


class Worker:
    """The child that loads folders; restarted after a crash or a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
        return subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def load(self, folder: Path) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self.start()
        self.proc.stdin.write(f"{folder}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], LOAD_TIMEOUT_S)
        if not ready:
            self.stop()
            return {"other": f"no answer within {LOAD_TIMEOUT_S} s (hang)"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"other": f"the child died (exit code {code})"}
        return json.loads(line)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Pristine tiny folders: a GPT (biases, tied head) and a CharLSTM."""
    root = tmp_path_factory.mktemp("pristine")
    ember.manual_seed(0)
    save_model(
        GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8)),
        root / "gpt",
    )
    save_model(
        CharLSTM(CharLSTMConfig(vocab_size=7, embed_size=4, hidden_size=5, num_layers=2)),
        root / "lstm",
    )
    for kind in ("gpt", "lstm"):  # nested training state, as ember.save writes it
        model = ember.load(root / kind)
        opt = ember.optim.Adam(model.parameters())
        model.train()
        out = model(ember.randint(0, 7, (1, 4)))[0]
        out.float().mean().backward()
        opt.step()
        ember.save({"optim": opt.state_dict(), "epoch": 1, "k": (None, {3: "x"})},
                   root / kind / "state.safetensors")  # fmt: skip
    return root


def check(worker: Worker, folder: Path) -> None:
    verdict = worker.load(folder)
    assert "other" not in verdict, verdict["other"]
    if "error" in verdict:
        assert str(folder) in verdict["error"], verdict["error"]
    else:
        assert verdict["loaded"] == [], f"tensors differ from the file: {verdict['loaded']}"


def mutated_copy(folders: Path, kind: str) -> Path:
    dest = Path(tempfile.mkdtemp(dir=folders))
    shutil.copytree(folders / kind, dest, dirs_exist_ok=True)
    return dest


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, -1, 2**31, 2**63, 10**9, 20_000_000, 1_000_000])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(
    kind=st.sampled_from(["gpt", "lstm"]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["config", "top", "drop_config", "drop_top"]),
            st.sampled_from(
                ["block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias",
                 "tie_weights", "embed_size", "hidden_size", "num_layers", "format",
                 "architecture", "config", "tokenizer", "extra"]
            ),
            json_values,
        ),
        min_size=1,
        max_size=3,
    ),
)  # fmt: skip
def test_config_values(worker, folders, kind, edits):
    folder = mutated_copy(folders, kind)
    doc = json.loads((folder / CONFIG).read_text())
    for where, key, value in edits:
        target = doc if where.endswith("top") else doc.get("config")
        if not isinstance(target, dict):
            continue
        if where.startswith("drop"):
            target.pop(key, None)
        else:
            target[key] = value
    (folder / CONFIG).write_text(json.dumps(doc))
    check(worker, folder)


@FUZZ
@given(
    kind=st.sampled_from(["gpt", "lstm"]),
    file=st.sampled_from([CONFIG, WEIGHTS, STATE]),
    op=st.sampled_from(["truncate", "flip", "insert"]),
    where=st.floats(0.0, 1.0),
    header_bias=st.booleans(),
    byte=st.integers(0, 255),
)
def test_raw_bytes(worker, folders, kind, file, op, where, header_bias, byte):
    folder = mutated_copy(folders, kind)
    data = bytearray((folder / file).read_bytes())
    # Bias toward the weights file's header, where a flip changes meaning, not values.
    span = len(data)
    if file != CONFIG and header_bias:
        span = 8 + struct.unpack("<Q", data[:8])[0]
    at = min(int(where * span), len(data) - 1)
    if op == "truncate":
        del data[at:]
    elif op == "flip":
        data[at] ^= byte or 0xFF
    else:
        data[at:at] = bytes([byte])
    (folder / file).write_bytes(bytes(data))
    check(worker, folder)


@FUZZ
@given(
    kind=st.sampled_from(["gpt", "lstm"]),
    file=st.sampled_from([WEIGHTS, STATE]),
    length=st.one_of(
        st.integers(0, 2**64 - 1),
        st.sampled_from([0, 1, 2**63, 2**64 - 1, 100_000_001]),
        st.integers(-64, 64),  # relative to the true length
    ),
    relative=st.booleans(),
)
def test_header_length_prefix(worker, folders, kind, file, length, relative):
    folder = mutated_copy(folders, kind)
    data = bytearray((folder / file).read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    data[:8] = struct.pack("<Q", (n + length if relative else length) % 2**64)
    (folder / file).write_bytes(bytes(data))
    check(worker, folder)


dims = st.integers(-2, 2**65) | st.sampled_from([0, 1, 3, 4, 8, 11, 16, 24, 32, 2**62, 2**63])


@FUZZ
@given(
    kind=st.sampled_from(["gpt", "lstm"]),
    which=st.integers(0, 1000),
    field=st.sampled_from(["dtype", "shape", "data_offsets", "name", "drop", "metadata"]),
    dtype=st.sampled_from(["F32", "F16", "BF16", "F64", "I64", "BOOL", "F8_E4M3", "F8_E5M2", "X"])
    | json_values,
    shape=st.lists(dims, max_size=4) | json_values,
    offsets=st.lists(st.integers(-5, 2**64), min_size=0, max_size=3) | json_values,
    name=st.text(max_size=12) | st.sampled_from(["../x", "/etc/passwd", "..", "a/../../b", ""]),
    file=st.sampled_from([WEIGHTS, STATE]),
)
def test_header_fields(worker, folders, kind, which, field, dtype, shape, offsets, name, file):
    folder = mutated_copy(folders, kind)
    data = (folder / file).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    tensors = sorted(k for k in header if k != "__metadata__")
    key = tensors[which % len(tensors)]
    if field == "dtype":
        header[key]["dtype"] = dtype
    elif field == "shape":
        header[key]["shape"] = shape
    elif field == "data_offsets":
        header[key]["data_offsets"] = offsets
    elif field == "name":
        header[name] = header.pop(key)
    elif field == "drop":
        del header[key]
    else:
        header["__metadata__"] = shape
    raw = json.dumps(header).encode()
    (folder / file).write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    check(worker, folder)
