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


# ---- the command framework: help, one-line errors, train, bench ----------------------------
import json  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

from ember import cli  # noqa: E402


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["config", "--help"],
        ["train", "--help"],
        ["train", "cnn", "--help"],
        ["bench", "--help"],
    ],
)
def test_help_everywhere(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ember")
    if argv[:2] == ["train", "cnn"]:
        for opt in ("--epochs", "--lr", "--batch-size", "--seed", "--threads", "--out", "--resume"):
            assert opt in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["train"], "train needs a recipe"),
        (["train", "gpt2xl"], "invalid choice: 'gpt2xl'"),
        (["train", "cnn", "--lr", "-1"], "--lr: expected a positive number"),
        (["train", "cnn", "--epochs", "zero"], "--epochs: expected a positive integer"),
        (["train", "cnn", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("ember: error: ")
    assert needle in captured.err and "Traceback" not in captured.err


def test_runtime_errors_are_one_line_and_debug_shows_them(capsys, monkeypatch):
    def boom(args):
        raise FileNotFoundError("no checkpoint at /nowhere")

    monkeypatch.setitem(cli.COMMANDS, "boom", cli.Command("boom", "fails", lambda p: None, boom))
    assert main(["boom"]) == 1
    assert capsys.readouterr().err == "ember: error: no checkpoint at /nowhere\n"
    monkeypatch.setenv("EMBER_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["boom"])


def _failing_command(monkeypatch, exc):
    def fail(args):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "fail", cli.Command("fail", "fails", lambda p: None, fail))


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("--width must be positive, got 0"),
        FileNotFoundError("ember.train: no checkpoint at x.safetensors"),
        PermissionError("can't write runs/"),
        ImportError("load_digits needs scikit-learn: pip install 'ember[examples]'"),
        FloatingPointError("ember.train: the loss is nan at step 3"),
        cli.UserError("nothing to sample"),
    ],
)
def test_user_errors_are_one_line(exc, capsys, monkeypatch):
    _failing_command(monkeypatch, exc)
    assert main(["fail"]) == 1
    assert capsys.readouterr().err == f"ember: error: {exc}\n"


def test_usage_error_exits_2(capsys, monkeypatch):
    _failing_command(monkeypatch, cli.UsageError("--tokens must be >= 0, got -1"))
    assert main(["fail"]) == 2
    assert capsys.readouterr().err == "ember: error: --tokens must be >= 0, got -1\n"


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("unsupported operand type(s)"),
        KeyError("lr"),
        AttributeError("'NoneType' object has no attribute 'step'"),
        RuntimeError("internal"),
        ZeroDivisionError("division by zero"),
        NotImplementedError("Sampler"),
    ],
)
def test_internal_bugs_keep_their_traceback(exc, capsys, monkeypatch):
    _failing_command(monkeypatch, exc)
    with pytest.raises(type(exc)):
        main(["fail"])
    assert capsys.readouterr().err == ""


def test_internal_bug_traceback_in_a_subprocess():
    code = (
        "import sys\n"
        "from ember import cli\n"
        "cli.register_command('fail', 'fails', lambda p: None, lambda a: {}['lr'])\n"
        "sys.exit(cli.main(['fail']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "KeyError: 'lr'" in r.stderr
    assert "ember: error" not in r.stderr


def test_register_command_extension_point(capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))

    def add(p):
        p.add_argument("checkpoint")

    cli.register_command("sample", "print a sample", add, lambda a: print("got", a.checkpoint))
    assert main(["sample", "x.safetensors"]) == 0
    assert capsys.readouterr().out == "got x.safetensors\n"


def test_train_cnn_smoke_and_resume(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "cnn"
    common = ["--width", "4", "--batch-size", "128", "--out", str(out), "--threads", "1"]
    assert main(["train", "cnn", "--max-steps", "2", *common]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "2 steps" in text
    assert (out / "checkpoints" / "step_00000002.safetensors").is_file()
    assert (out / "log.jsonl").is_file()
    assert isinstance(ember.load(out / "model"), ember.models.DigitsCNN)
    assert main(["train", "cnn", "--max-steps", "3", "--resume", *common]) == 0
    assert "3 steps" in capsys.readouterr().out
    recs = [json.loads(x) for x in open(out / "log.jsonl")]
    assert recs[-1]["step"] == 3 and "eval_accuracy" in recs[-1]
    assert main(["train", "cnn", "--resume", str(tmp_path / "missing.safetensors"), *common]) == 1
    assert capsys.readouterr().err.startswith("ember: error: ")


def _fake_checkout(root):
    bench = root / "bench"
    bench.mkdir()
    (bench / "run_all.py").write_text("import sys\nprint('run_all', sys.argv[1:])\n")
    (bench / "gemm.py").write_text(
        "import sys, ember\nprint('gemm', sys.argv[1:], ember.__name__)\nsys.exit(3)\n"
    )
    (bench / "_harness.py").write_text("")


def test_bench_runs_scripts_from_a_checkout(tmp_path, monkeypatch, capfd):
    _fake_checkout(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["bench"]) == 0
    assert "run_all []" in capfd.readouterr().out
    assert main(["bench", "gemm", "--rounds", "1"]) == 3
    assert "gemm ['--rounds', '1'] ember" in capfd.readouterr().out
    assert main(["bench", "conv"]) == 2
    err = capfd.readouterr().err
    assert "no benchmark 'conv'" in err and "gemm" in err and "_harness" not in err


def test_bench_without_checkout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_bench_dirs", lambda: [tmp_path / "bench"])
    assert main(["bench"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need a source checkout" in err


def test_console_script_subprocess_one_line_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, "-m", "ember.cli", "train", "cnn", "--lr", "x"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stdout == ""


def test_train_cnn_reaches_98_percent(tmp_path, capsys):
    """A narrower, shorter run than the defaults (width 16, 6 epochs: about 2 s on one
    quiet core); training is bitwise deterministic, so the accuracy is too."""
    pytest.importorskip("sklearn")
    argv = ["train", "cnn", "--width", "16", "--epochs", "6", "--out", str(tmp_path)]
    assert main(argv) == 0
    recs = [json.loads(x) for x in open(tmp_path / "log.jsonl")]
    assert recs[-1]["eval_accuracy"] >= 0.98
    assert "test accuracy" in capsys.readouterr().out
