"""Factories: tensor, from_numpy, from_dlpack, empty/zeros/ones/full, arange, linspace,
eye, *_like."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _C
from .. import _dtype as D
from .._device import CPU, device, to_device
from .._primitives import copy_into, kernels
from .._primitives import empty as _empty
from .._primitives import full as _full
from ..tensor import Tensor


def _dev(dev: Any) -> device:
    return CPU if dev is None else to_device(dev)


def _size(size: tuple, op: str) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s.item())
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"ember.{op}: size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise ValueError(f"ember.{op}: negative dimension {s} in size {tuple(size)}")
        if s >= 2**63:  # beyond the kernels' int64 sizes (a binding would say TypeError)
            raise ValueError(f"ember.{op}: dimension {s} in size {tuple(size)} is too large")
        out.append(int(s))
    return tuple(out)


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array (writes show up on both sides). A
    read-only array (``flags.writeable`` False, a bytes buffer, a read-only memmap) gives
    a read-only tensor: ops read it, in-place ops and ``out=`` raise ValueError."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"ember.from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if not array.dtype.isnative:
        raise TypeError("ember.from_numpy: non-native byte order is not supported")
    D.from_numpy_dtype(array.dtype)  # clear error for unsupported dtypes
    return Tensor(_C.TensorImpl.from_buffer(array))


def from_dlpack(ext: object) -> Tensor:
    """A tensor sharing memory with any object that implements ``__dlpack__`` (numpy,
    PyTorch, CuPy, JAX, ...) or with a raw 'dltensor' / 'dltensor_versioned' capsule.
    DLPack 1 producers are asked for a versioned capsule, whose read-only flag makes a
    read-only tensor (as from_numpy does for a read-only array)."""
    if hasattr(ext, "__dlpack__"):
        try:
            capsule = ext.__dlpack__(max_version=(1, 0))
        except TypeError:  # a producer older than DLPack 1 (no max_version keyword)
            capsule = ext.__dlpack__()
    else:
        capsule = ext
    return Tensor(_C.from_dlpack(capsule))


def _infer_numpy(data: Any, dtype: D.dtype | None) -> np.ndarray:
    """A numpy array of a supported dtype holding ``data`` (Python numbers, sequences or
    numpy values); ``dtype`` is the requested ember dtype, if any."""
    try:
        arr = np.asarray(data)
    except ValueError as e:
        raise ValueError(f"ember.tensor: data is not rectangular ({e})") from None
    from_python = not isinstance(data, (np.ndarray, np.generic))
    if from_python and (
        arr.dtype in (np.uint64, np.object_)
        or (arr.dtype.kind == "f" and (np.abs(arr) >= 2.0**63).any())
    ):
        # numpy's fallbacks for Python ints beyond int64 (uint64, object, or float64 for
        # [0, 2**63]): torch takes them only into float or bool dtypes
        items = np.asarray(data, dtype=object)
        if all(isinstance(v, (int, np.integer, float)) for v in items.flat) and any(
            isinstance(v, (int, np.integer)) and not -(2**63) <= v < 2**63 for v in items.flat
        ):
            if dtype is None or dtype.category == 1:
                raise OverflowError(
                    "ember.tensor: Python integer out of the int64 range; pass a float (or "
                    "bool) dtype to store it as one"
                )
            return np.array([float(v) for v in items.flat], np.float64).reshape(items.shape)
    if arr.dtype == np.uint64:
        raise TypeError(
            "ember.tensor: numpy dtype uint64 is not supported (ember has no unsigned "
            "64-bit type; values above 2**63-1 would change); convert with "
            f".astype(np.int64) or .astype(np.float64); supported: {D.SUPPORTED_NUMPY}"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"ember.tensor: data must be numbers or (nested) sequences of numbers, got "
            f"elements of type {arr.dtype}; supported numpy dtypes: {D.SUPPORTED_NUMPY}"
        )
    if (
        from_python
        and arr.dtype == np.float64
        and dtype is None
        and D.get_default_dtype() is D.float32
    ):
        # Python floats become the default dtype (float32), as in PyTorch; with a dtype
        # they convert directly (via float32 first, 16777217.0 would reach int32 as
        # 16777216). Beyond float32's range a value becomes inf, as in PyTorch, without
        # numpy's overflow warning.
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float32)
    return arr


def _check_values(arr: np.ndarray, dt: D.dtype) -> None:
    """Values stored into an integer dtype must be representable (D.check_scalar's rule
    for whole arrays); a cast would wrap or saturate them silently."""
    if dt not in D.INT_RANGE or arr.dtype.kind == "b" or arr.size == 0:
        return
    lo, hi = D.INT_RANGE[dt]
    if arr.dtype.kind == "f":
        f = arr.astype(np.float64)
        # lo and hi + 1 are powers of two, exact as floats (hi is not for int64); NaN fails
        ok = bool(((f >= lo) & (f <= hi) & (f < hi + 1)).all())
    else:
        ok = lo <= int(arr.min()) and int(arr.max()) <= hi
    if not ok:
        raise D.overflow_error("tensor", dt)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, numpy arrays or
    tensors). Python floats give the default dtype (float32), ints int64, bools bool.

    Numbers and numpy data stored into an integer dtype must fit it (OverflowError for
    NaN, inf or out-of-range values, where a cast would wrap or saturate); numpy uint64
    is rejected (TypeError). Tensor data is converted like ``Tensor.to``.
    """
    dev = _dev(device)
    dt = D.to_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        src = data.detach()
    else:
        arr = _infer_numpy(data, dt)
        if arr.dtype.kind in "ui" and arr.dtype not in (np.int8, np.int32, np.int64):
            arr = arr.astype(np.int64)  # uint8/int16/uint32/... widen exactly to int64
        elif arr.dtype.kind == "f" and arr.dtype not in (np.float16, np.float32, np.float64):
            arr = arr.astype(np.float64)
        if dt is not None:
            _check_values(arr, dt)
        src = from_numpy(arr if arr.flags.c_contiguous else arr.copy(order="C"))
    dt = dt or src.dtype
    out = _empty(src.shape, dt, dev)
    copy_into(src, out)
    return _finish(out, requires_grad)


as_tensor = tensor


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor. Shape: ``size``."""
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return _finish(_empty(_size(size, "empty"), dt, _dev(device)), requires_grad)


def full(
    size: Sequence[int],
    fill_value: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor filled with one value (dtype inferred from the value if not given).

    Shape: ``size``.
    """
    dt = D.to_dtype(dtype) if dtype is not None else D.scalar_dtype(fill_value, "full")
    D.check_scalar(fill_value, dt, "full")
    shape = _size((size,) if isinstance(size, int) else tuple(size), "full")
    return _finish(_full(shape, fill_value, dt, _dev(device)), requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros. Shape: ``size``."""
    dt = dtype if dtype is not None else D.get_default_dtype()
    return full(_size(size, "zeros"), 0, dt, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones. Shape: ``size``."""
    dt = dtype if dtype is not None else D.get_default_dtype()
    return full(_size(size, "ones"), 1, dt, device, requires_grad)


def _like(x: Tensor, dtype: Any, device: Any) -> tuple:
    return (
        x.shape,
        dtype if dtype is not None else x.dtype,
        device if device is not None else x.device,
    )


def empty_like(
    x: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Uninitialized, same shape (and by default dtype and device) as x."""
    s, dt, dev = _like(x, dtype, device)
    return empty(s, dtype=dt, device=dev, requires_grad=requires_grad)


def zeros_like(
    x: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Zeros shaped like x."""
    s, dt, dev = _like(x, dtype, device)
    return full(s, 0, dt, dev, requires_grad)


def ones_like(
    x: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Ones shaped like x."""
    s, dt, dev = _like(x, dtype, device)
    return full(s, 1, dt, dev, requires_grad)


def full_like(
    x: Tensor,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``fill_value`` everywhere, shaped like x."""
    s, dt, dev = _like(x, dtype, device)
    return full(s, fill_value, dt, dev, requires_grad)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step; int64 when all
    arguments are ints, else the default dtype (float32).

    Shape: (ceil((end - start) / step),).
    """
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"ember.arange: bounds must be finite, got {v}")
    if step == 0:
        raise ValueError("ember.arange: step must be nonzero")
    if (end - start) * step < 0:
        n = 0
    else:
        n = math.ceil((end - start) / step)
    all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = D.to_dtype(dtype) if dtype is not None else (D.int64 if all_int else D.get_default_dtype())
    values = start + step * np.arange(n, dtype=np.int64 if all_int else np.float64)
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive. Shape: (steps,)."""
    if steps < 0:
        raise ValueError(f"ember.linspace: steps must be non-negative, got {steps}")
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return tensor(
        np.linspace(start, end, steps), dtype=dt, device=device, requires_grad=requires_grad
    )


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` values base**v for v evenly spaced from start to end inclusive.

    Shape: (steps,).
    """
    if steps < 0:
        raise ValueError(f"ember.logspace: steps must be non-negative, got {steps}")
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    values = np.logspace(start, end, steps, base=base)
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Identity matrix (ones on the main diagonal). Shape: (n, m or n)."""
    m = n if m is None else m
    t = zeros(n, m, dtype=dtype, device=device)
    k = min(n, m)
    if k:
        diag = Tensor(t._impl.as_strided([k], [m + 1], 0))
        kernels(t.device, "eye", "fill").fill(diag._impl, 1)
    return _finish(t, requires_grad)
