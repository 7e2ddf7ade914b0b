"""The error for a name the ember package does not have.

Python (3.10+) appends its own "Did you mean: '...'?" to an AttributeError raised by a
module ``__getattr__``: the interpreter stores the name and module on the exception
(its ``name``/``obj`` fields) and the printer picks the closest entry of ``dir(module)``.
For a torch name ember lacks that guess is a different function (``torch.save`` once
got "Did you mean: 'shape'?"). So ember raises an AttributeError that keeps ``name`` and
``obj`` empty, and writes the whole message itself: the torch name is said to be
missing, and only a near-typo of an ember name gets a suggestion.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from pathlib import Path

_TORCH_NAMES = Path(__file__).with_name("_torch_names.txt")  # tools/make_torch_names.py


class _AttributeError(AttributeError):
    """An AttributeError whose message is complete: ``name`` and ``obj`` stay None, so
    Python appends no guess of its own (the interpreter's writes to them are ignored)."""

    @property
    def name(self) -> None:
        return None

    @name.setter
    def name(self, value: object) -> None:
        pass

    @property
    def obj(self) -> None:
        return None

    @obj.setter
    def obj(self, value: object) -> None:
        pass


# Tracebacks print the class as ``module.qualname``: show the type users catch.
_AttributeError.__module__ = "builtins"
_AttributeError.__qualname__ = "AttributeError"


@functools.cache
def torch_names() -> frozenset[str]:
    """The public top-level names of torch (as of the release the list was made from)."""
    lines = _TORCH_NAMES.read_text().splitlines()
    return frozenset(n for n in lines if n and not n.startswith("#"))


def missing_attribute(module: str, name: str, public: Iterable[str]) -> AttributeError:
    """The AttributeError for ``<module>.<name>``: says when it is a torch name ember
    does not have yet, suggests an ember name only for a near-typo of one."""
    msg = f"module {module!r} has no attribute {name!r}"
    if name in torch_names():
        return _AttributeError(f"{msg}: torch.{name} is not in ember yet")
    close = difflib.get_close_matches(name, sorted(public), n=1, cutoff=0.8)
    if close:
        msg += f". Did you mean: {close[0]!r}?"
    return _AttributeError(msg)
