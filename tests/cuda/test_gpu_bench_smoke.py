"""Every bench/gpu/<family>.py in smoke mode (--smoke: tiny sizes, one round, torch on the
CPU where it has no CUDA), each in its own process: it must run every case on both sides
and print its table. Without a GPU this runs ember's kernels on the CUDA host emulator
(EMBER_CUDA_EMULATOR, passed through to the script), so a Python bug in a benchmark shows
here rather than on a GPU machine's scarce minutes (bench/gpu_check.sh)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ember
import ember.cuda

BENCH = Path(__file__).resolve().parents[2] / "bench"
FAMILIES = sorted(p.stem for p in (BENCH / "gpu").glob("*.py"))


def test_gpu_check_runs_every_family():
    families = re.search(r"for family in ([^;]+); do", (BENCH / "gpu_check.sh").read_text())
    assert families and sorted(families[1].split()) == FAMILIES


@pytest.mark.cuda
@pytest.mark.skipif(not ember.cuda.is_available(), reason="needs a CUDA GPU (or the emulator)")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
@pytest.mark.parametrize("family", FAMILIES)
def test_smoke(family):
    env = dict(os.environ)  # EMBER_CUDA_EMULATOR, when set, goes through
    # the ember these tests import, wherever it comes from (installed or PYTHONPATH=python)
    ember_root = str(Path(ember.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ember_root, env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, str(BENCH / "gpu" / f"{family}.py"), "--smoke"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n{out}\n{run.stderr}"
    assert "smoke run: not a measurement" in out, out
    assert "| case | ember ms | torch ms |" in out, out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 2, out  # the header and at least one case
    assert "ember CUDA emulator:" not in run.stderr, run.stderr  # a kernel's fault
