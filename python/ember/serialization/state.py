"""Any state as one safetensors file: a dict of named tensors (a ``state_dict``) as a
plain file that every safetensors reader loads; any other nesting of dicts, lists and
tuples of tensors, numbers, strings, bools and None (optimizer and scheduler state,
a training checkpoint) as its tensors plus a JSON skeleton in the metadata, from which
loading rebuilds the structure exactly (int dict keys, tuples). Never pickle."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .. import _dtype as D
from .._config import VERSION as EMBER_VERSION
from .._device import device
from ..tensor import Tensor
from .atomic import atomic_write
from .errors import ModelFileError
from .jsonvalue import from_json, parse_json, to_json
from .options import convert
from .safetensors_file import read_file, tensor_from, write_file

FORMAT = "ember.tree"
VERSION = 1


def is_state_dict(obj: Any) -> bool:
    """A dict of str -> Tensor: saved as a plain safetensors file."""
    return isinstance(obj, Mapping) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    )


def _flatten(obj: Any) -> tuple[dict[str, Tensor], Any]:
    """(tensors by generated name, the JSON skeleton referring to them). A tensor that
    appears twice is stored once and comes back shared."""
    tensors: dict[str, Tensor] = {}
    names: dict[int, str] = {}

    def name_of(t: Tensor, where: str) -> str:
        if id(t) not in names:
            name = where if where not in tensors else f"{where}#{len(tensors)}"
            names[id(t)], tensors[name] = name, t
        return names[id(t)]

    skeleton = to_json(obj, "obj", name_of)
    return tensors, skeleton


def save_state(obj: Any, target: str | os.PathLike | BinaryIO) -> None:
    """Write ``obj`` (see the module doc) to a path, atomically, or to an open binary
    file. TypeError naming the type and where it sits for anything else."""
    if is_state_dict(obj):
        tensors, meta = obj, {}
    else:
        tensors, skeleton = _flatten(obj)
        meta = {
            "format": f"{FORMAT}/{VERSION}",
            "ember_version": EMBER_VERSION,
            "tree": json.dumps(skeleton),
        }
    if hasattr(target, "write"):
        write_file(target, tensors, meta)
    else:
        atomic_write(target, lambda f: write_file(f, tensors, meta))


def version_skew(fmt: str, writer: Any, known: str) -> str:
    """The message for a file in a format newer than this ember reads."""
    who = f"ember {writer}" if isinstance(writer, str) else "a newer ember"
    return (
        f"written in format {fmt} by {who}; this ember ({EMBER_VERSION}) reads up to "
        f"{known}: upgrade ember to load it"
    )


def _tree_version(path: Path, meta: Mapping[str, str]) -> int | None:
    fmt = meta.get("format", "")
    m = re.fullmatch(rf"{re.escape(FORMAT)}/(\d+)", fmt)
    if m is None:
        return None
    if int(m.group(1)) > VERSION:
        raise ModelFileError(
            path, version_skew(fmt, meta.get("ember_version"), f"{FORMAT}/{VERSION}")
        )
    return int(m.group(1))


def load_state(
    source: str | os.PathLike | BinaryIO,
    *,
    mmap: bool = False,
    dtype: D.dtype | None = None,
    dev: device,
) -> Any:
    """Read what :func:`save_state` wrote (or any safetensors file: a dict of tensors)."""
    (infos, meta, _), data, path = read_file(source, mmap)
    is_tree = _tree_version(path, meta) is not None
    views = {k: tensor_from(path, k, info, data) for k, info in infos.items()}
    tensors = {k: convert(t, dtype, dev) for k, t in views.items()}
    if any(tensors[k] is not t for k, t in views.items()):
        # One tensor still viewing the file's buffer (an int tensor that dtype= leaves
        # alone) would keep all of it alive next to the converted copies.
        tensors = {k: t.clone() if t is views[k] else t for k, t in tensors.items()}
    del views, data
    if not is_tree:
        return tensors
    doc = parse_json(path, meta.get("tree", ""), "the state skeleton")
    referenced = _Referenced(tensors)
    try:
        obj = from_json(doc, "obj", referenced)
    except RecursionError:
        raise ModelFileError(path, "the state skeleton is nested too deeply") from None
    except ValueError as e:
        raise ModelFileError(path, f"bad state skeleton: {e}") from None
    extra = sorted(set(tensors) - referenced.used)
    if extra:
        raise ModelFileError(path, "the skeleton never refers to this tensor", extra[0])
    return obj


class _Referenced(dict):
    """The file's tensors, noting which ones the skeleton refers to."""

    def __init__(self, tensors: dict[str, Tensor]):
        super().__init__(tensors)
        self.used: set[str] = set()

    def __getitem__(self, name: str) -> Tensor:
        self.used.add(name)
        return super().__getitem__(name)
