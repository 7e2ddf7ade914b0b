"""Run fuzz cases in a child process, so a crash fails one test instead of the whole run."""

import json
import subprocess
import sys


def run_child(code: str, cases: list, progress: str) -> list[str]:
    """Send ``cases`` (one JSON line each) to a child running ``code``; the child prints a
    ``progress`` line before each case and a ``DONE <result>`` line after it. Asserts that
    the child exited cleanly (naming the case it died in) and returns the results."""
    stdin = "".join(json.dumps(c) + "\n" for c in cases)
    r = subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=120
    )
    seen = [ln for ln in r.stdout.splitlines() if ln.startswith(progress)]
    last = seen[-1] if seen else "(none)"
    assert r.returncode == 0, f"child died ({r.returncode}) in: {last}\n{r.stderr[-3000:]}"
    return [ln.split(" ", 1)[1] if " " in ln else "" for ln in r.stdout.splitlines()
            if ln.startswith("DONE")]  # fmt: skip
