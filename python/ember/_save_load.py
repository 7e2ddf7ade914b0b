"""ember.save / ember.load: the one public entry point for writing and reading models,
weights and training state. Everything is safetensors + JSON (never pickle), written
atomically and read without trusting the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from .models.folder import is_model_folder, is_registered, load_model, save_model
from .models.registry import REGISTRY
from .nn import Module
from .serialization import load_state, parse_device, parse_dtype, save_state


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Save ``obj`` to ``f`` (a path, or an open binary file for the single-file kinds).

    - a registered model (``ember.models.REGISTRY``): a model folder (config.json with
      architecture, config, dtype, ember version and the weights' sha256, plus
      model.safetensors);
    - a dict of str -> Tensor (a ``state_dict``): one plain .safetensors file that any
      safetensors reader loads;
    - any other nesting of dicts, lists and tuples of tensors, numbers, strings, bools
      and None (e.g. ``{"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}``):
      one .safetensors file, tensors under generated names and the rest as JSON in its
      metadata; :func:`load` rebuilds it exactly (int dict keys, tuples, shared tensors).

    Writes are atomic (a crash leaves the old file or folder) with the umask's
    permissions. Anything else (a lambda, an arbitrary object) is a TypeError naming the
    type and where it sits: ember files never hold pickled objects.
    """
    if is_registered(obj):
        if hasattr(f, "write"):
            raise TypeError("ember.save: a model is saved as a folder; pass a path, not a file")
        save_model(obj, f)
        return
    if isinstance(obj, Module):
        raise TypeError(
            f"ember.save: {type(obj).__name__} is not a registered architecture (registered: "
            f"{', '.join(sorted(REGISTRY))}); save its state_dict() and load it into a new "
            "instance with load_state_dict"
        )
    save_state(obj, f)


def load(
    f: str | os.PathLike | BinaryIO,
    *,
    mmap: bool = False,
    dtype: Any = None,
    map_location: Any = None,
    weights_only: bool = True,
) -> Any:
    """Load what :func:`save` wrote: a model (in eval mode) from a model folder, else the
    dict of tensors or the nested state from a .safetensors file (any safetensors file
    loads as a dict of tensors; dtypes ember lacks widen exactly, e.g. U8 to int32).

    - ``mmap=True`` maps the file copy-on-write instead of reading it: tensors (and a
      model's parameters) are the mapped pages, loaded on first use; writing them (e.g.
      training) copies the touched pages, the file never changes. Needs a path.
    - ``dtype`` ("float32", "bfloat16", "float16", "float64" or the ember dtype) converts
      the floating tensors; others keep theirs. ValueError for anything else.
    - ``map_location``: None or "cpu" (the default: files hold no device), "cuda",
      "cuda:1" or an ember.device; RuntimeError for CUDA without a GPU.
    - ``weights_only`` is accepted for PyTorch's habit: ember files only ever hold
      tensors and JSON, so loading never runs code, whatever its value.

    A damaged, truncated, tampered (sha256 mismatch) or too-new file is a
    :class:`~ember.serialization.ModelFileError` naming the file and the tensor.
    """
    if not isinstance(weights_only, bool):
        raise TypeError(f"ember.load: weights_only must be a bool, got {weights_only!r}")
    target_dtype, dev = parse_dtype(dtype), parse_device(map_location)
    if not hasattr(f, "read") and is_model_folder(f):
        return load_model(f, mmap=mmap, dtype=target_dtype, map_location=dev)[0]
    if not hasattr(f, "read") and Path(f).is_dir():
        raise FileNotFoundError(f"ember.load: {f} is a folder without config.json")
    return load_state(f, mmap=mmap, dtype=target_dtype, dev=dev)
