"""The README's code runs as written (keeps the front page true)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text()


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", TEXT, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(ROOT / "README.md"), "exec"), {})
    assert "cpu_isa" in capsys.readouterr().out


def test_readme_test_command_is_what_ci_runs():
    # CI installs and runs the tests exactly the way the README tells a new contributor to.
    command = re.search(r"```bash\n(pip install \"\.\[test[^\]]*\]\") && pytest\n```", TEXT)
    assert command, "README lost its 'install and run the tests' command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "parity" in command.group(1)  # the torch cross-checks run in CI, never skip there
    assert f"\ntime {command.group(1)}\n" in ci
    assert "\nCI=true pytest\n" in ci
