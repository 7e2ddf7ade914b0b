"""A writer killed (SIGKILL) at a random moment while saving never leaves a damaged
model: the folder and the file always load, intact, as one complete version."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ember

WRITER = r"""
import sys
import ember
import ember.serialization.atomic as atomic
from ember.models import GPT, GPTConfig

folder, file, exchange = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if not exchange:  # the portable path: rename the old folder aside, then the new one in
    atomic._exchange = lambda a, b: False
model = GPT(GPTConfig(vocab_size=256, block_size=64, n_layer=2, n_head=4, n_embd=96))
k = 0
while True:
    k += 1
    with ember.no_grad():
        for p in model.parameters():
            p.fill_(float(k))
    ember.save(model, folder)
    ember.save({"model": model.state_dict(), "k": k}, file)
    print(k, flush=True)
"""


def _version(model_or_state) -> float:
    """The one value every weight holds (asserting that they agree)."""
    tensors = (
        list(model_or_state.parameters())
        if isinstance(model_or_state, ember.nn.Module)
        else list(model_or_state.values())
    )
    values = {float(v) for t in tensors for v in t.detach().reshape(-1).numpy()[[0, -1]]}
    assert len(values) == 1, f"a mix of versions: {sorted(values)}"
    return values.pop()


@pytest.mark.parametrize("exchange", [True, False])
def test_killed_writer_leaves_a_loadable_model(exchange, tmp_path):
    folder, file = tmp_path / "model", tmp_path / "ckpt.safetensors"
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(Path(ember.__file__).parent.parent)}
    seen = 0.0
    for _ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(file), "1" if exchange else "0"],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert child.stdout.readline(), "the writer died before its first save"
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        model = ember.load(folder)  # sha256 verified
        ckpt = ember.load(file)
        assert _version(model) >= 1 and _version(ckpt["model"]) == float(ckpt["k"])
        seen = max(seen, _version(model))
        # whatever the kill left behind is hidden (a dot name), never the model
        assert all(p.name.startswith(".") for p in tmp_path.iterdir()
                   if p not in (folder, file)), sorted(tmp_path.iterdir())  # fmt: skip
    assert seen >= 1
