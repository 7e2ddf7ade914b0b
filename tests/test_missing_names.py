"""A name ember does not have: a plain AttributeError, never a guess at a different name
(Python once printed "module 'ember' has no attribute 'save'. Did you mean: 'shape'?")."""

import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import ember
from ember._missing import torch_names

PYTHON_DIR = str(Path(ember.__file__).parent.parent)


def _printed(expr: str) -> str:
    """The last line of the traceback the interpreter prints for ``expr``."""
    out = subprocess.run(
        [sys.executable, "-c", f"import ember; {expr}"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": PYTHON_DIR, "PATH": ""},
    )
    assert out.returncode == 1
    return out.stderr.strip().splitlines()[-1]


def test_a_torch_name_ember_lacks_is_said_plainly():
    # sparse_coo_tensor: a torch name far from ember's scope for now
    assert _printed("ember.sparse_coo_tensor") == (
        "AttributeError: module 'ember' has no attribute 'sparse_coo_tensor': "
        "torch.sparse_coo_tensor is not in ember yet"
    )


def test_an_unknown_name_gets_no_guess():
    assert _printed("ember.shap") == "AttributeError: module 'ember' has no attribute 'shap'"


def test_a_typo_of_an_ember_name_is_suggested():
    assert _printed("ember.manuel_seed") == (
        "AttributeError: module 'ember' has no attribute 'manuel_seed'. "
        "Did you mean: 'manual_seed'?"
    )


@pytest.mark.parametrize("name", ["sav", "sparse_coo_tensor", "xyz"])
def test_the_traceback_module_prints_the_same(name):
    # pytest, IPython and logging format through the traceback module, not the C printer
    with pytest.raises(AttributeError) as info:
        getattr(ember, name)
    line = traceback.format_exception_only(info.type, info.value)[-1].strip()
    assert line == f"AttributeError: {info.value}"
    assert line.count("Did you mean") == (name == "sav")
    assert not hasattr(ember, name)


def test_every_torch_name_ember_has_resolves():
    # the list only words the error; a name ember has never reaches __getattr__
    assert {"save", "load", "manual_seed", "no_grad"} <= torch_names()
    assert ember.save is not None and ember.load is not None
