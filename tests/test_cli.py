"""The ember command line."""

import subprocess
import sys

import ember
from ember.cli import main


def test_version_and_config(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "cpu_isa" in out and ember.__version__ in out
    r = subprocess.run(
        [sys.executable, "-m", "ember.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert r.stdout.strip() == f"ember {ember.__version__}"


def test_forced_isa_env(tmp_path):
    code = "import ember; print(ember.config()['cpu_isa'])"
    for isa in ember._C.available_isas():
        r = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "EMBER_CPU_ISA": isa},
            check=True,
        )
        assert r.stdout.strip() == isa
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "EMBER_CPU_ISA": "sse9"},
    )
    assert r.returncode != 0 and "EMBER_CPU_ISA=sse9" in r.stderr and "unknown" in r.stderr
