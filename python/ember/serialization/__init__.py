"""Weight I/O: safetensors files and model folders' weights, written atomically, read
without trusting the file, never pickle.

>>> save_state({"model": model.state_dict(), "epoch": 3}, "ckpt.safetensors")
>>> save_tensors("w.safetensors", {"w": ember.ones(2)}, {"format": "mine/1"})
>>> arrays, header = load_tensors("w.safetensors")

``ember.save`` / ``ember.load`` are the public entry points built on this package.
"""

from .atomic import (
    atomic_folder,
    atomic_write,
    atomic_write_bytes,
    existing_folder,
    fsync_dir,
    write_durable,
)
from .errors import ModelFileError
from .jsonvalue import from_json, parse_json, to_json
from .options import FLOAT_CHOICES, convert, parse_device, parse_dtype
from .safetensors_file import (
    DTYPES,
    FLOAT_DTYPES,
    TensorInfo,
    file_dtype,
    read_file,
    read_header,
    write_file,
)
from .state import is_state_dict, load_state, save_state, version_skew
from .weights import (
    TensorSpec,
    check_weights,
    load_tensors,
    load_weights,
    save_tensors,
    save_weights,
)

__all__ = [
    "DTYPES",
    "FLOAT_CHOICES",
    "FLOAT_DTYPES",
    "ModelFileError",
    "TensorInfo",
    "TensorSpec",
    "file_dtype",
    "atomic_folder",
    "atomic_write",
    "atomic_write_bytes",
    "check_weights",
    "convert",
    "existing_folder",
    "from_json",
    "fsync_dir",
    "is_state_dict",
    "load_state",
    "load_tensors",
    "load_weights",
    "parse_device",
    "parse_dtype",
    "parse_json",
    "read_file",
    "read_header",
    "save_state",
    "save_tensors",
    "save_weights",
    "to_json",
    "version_skew",
    "write_durable",
    "write_file",
]
