"""``ember serve`` refuses bad options with one line before starting anything."""

from ember.cli import main


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    repo = str(tmp_path)
    assert main(["serve", "--model-repository", repo, "--workers", "0"]) == 2
    assert main(["serve", "--model-repository", repo, "--protect-inference"]) == 2
    assert main(["serve", "--model-repository", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("ember: error:") for line in err)
    assert "missing" in err[2]
