"""Element types and the type-promotion rules (PyTorch's, for the dtypes ember has)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class dtype:  # noqa: N801 - lower case like torch.dtype / numpy.dtype
    """An ember element type, e.g. ``ember.float32``. Codes match csrc/core/dtype.h."""

    __slots__ = ("name", "code", "itemsize", "is_floating_point", "_rank", "_np")

    def __init__(self, name: str, code: int, itemsize: int, rank: int, np_dtype: Any):
        self.name = name
        self.code = code
        self.itemsize = itemsize
        self.is_floating_point = name.startswith(("float", "bfloat"))
        self._rank = rank
        self._np = np_dtype

    @property
    def numpy_dtype(self) -> np.dtype:
        """The matching numpy dtype (TypeError for bfloat16, which numpy lacks)."""
        if self._np is None:
            raise TypeError(f"ember.{self.name} has no numpy equivalent; convert it with .float()")
        return np.dtype(self._np)

    @property
    def category(self) -> int:
        """0 bool, 1 integer, 2 floating: the promotion categories."""
        return 2 if self.is_floating_point else (0 if self.name == "bool" else 1)

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):  # copy/deepcopy return the singleton
        return self.name


bool_ = dtype("bool", 0, 1, 0, np.bool_)
int8 = dtype("int8", 1, 1, 1, np.int8)
int32 = dtype("int32", 2, 4, 2, np.int32)
int64 = dtype("int64", 3, 8, 3, np.int64)
float16 = dtype("float16", 4, 2, 4, np.float16)
bfloat16 = dtype("bfloat16", 5, 2, 4, None)
float32 = dtype("float32", 6, 4, 5, np.float32)
float64 = dtype("float64", 7, 8, 6, np.float64)

ALL = (bool_, int8, int32, int64, float16, bfloat16, float32, float64)
BY_CODE = {d.code: d for d in ALL}
BY_NAME = {d.name: d for d in ALL}
BY_NAME.update(
    {
        "bool": bool_,
        "half": float16,
        "float": float32,
        "double": float64,
        "long": int64,
        "int": int32,
    }
)
_FROM_NUMPY = {np.dtype(d._np): d for d in ALL if d._np is not None}
_FROM_NUMPY[np.dtype(np.int64 if np.dtype(np.intp).itemsize == 8 else np.int32)] = (
    int64 if np.dtype(np.intp).itemsize == 8 else int32
)

default_float = float32


def get_default_dtype() -> dtype:
    """The dtype of float tensors made from Python floats and of the float factories
    (float32 unless set_default_dtype changed it)."""
    return default_float


def set_default_dtype(d: Any) -> None:
    """Make ``d`` (float32 or float64) the default float dtype: of tensors built from
    Python floats, of zeros/ones/rand/randn/arange with float arguments, and of new
    module parameters. Process-wide, as in PyTorch."""
    global default_float
    try:
        new = to_dtype(d)
    except (TypeError, ValueError):
        new = None
    if new not in (float32, float64):
        raise TypeError(
            f"ember.set_default_dtype: only float32 and float64 are supported, got {d!r}"
        )
    default_float = new


def to_dtype(obj: Any) -> dtype:
    """Accept an ember dtype, its name, a numpy dtype, or the Python types bool/int/float."""
    if isinstance(obj, dtype):
        return obj
    if obj is bool:
        return bool_
    if obj is int:
        return int64
    if obj is float:
        return default_float
    if isinstance(obj, str) and obj in BY_NAME:
        return BY_NAME[obj]
    try:
        npd = np.dtype(obj)
    except TypeError:
        npd = None
    if npd is not None and npd in _FROM_NUMPY:
        return _FROM_NUMPY[npd]
    raise TypeError(f"ember: unsupported dtype {obj!r}")


SUPPORTED_NUMPY = "bool, int8, int32, int64, float16, float32, float64"


def from_numpy_dtype(npd: np.dtype) -> dtype:
    npd = np.dtype(npd)
    if npd not in _FROM_NUMPY:
        hint = " (ember has no unsigned integer types)" if npd.kind == "u" else ""
        raise TypeError(
            f"ember: numpy dtype {npd} is not supported{hint}; supported: {SUPPORTED_NUMPY}"
        )
    return _FROM_NUMPY[npd]


INT_RANGE = {int8: (-(2**7), 2**7 - 1), int32: (-(2**31), 2**31 - 1), int64: (-(2**63), 2**63 - 1)}
_FLOAT_MAX = {
    float16: 65504.0,
    bfloat16: 3.3895313892515355e38,
    float32: 3.4028234663852886e38,
    float64: float("inf"),
}


def overflow_error(op: str, dt: dtype) -> OverflowError:
    return OverflowError(
        f"ember.{op}: value cannot be converted to type {dt.name} without overflow"
    )


def check_python_int(value: int, op: str) -> None:
    """PyTorch reads a Python int as int64 or uint64: OverflowError beyond both."""
    if not -(2**63) <= value < 2**64:
        raise OverflowError(f"ember.{op}: Python integer out of the int64 / uint64 range")


def check_scalar(value: Any, dt: dtype, op: str) -> None:
    """PyTorch's rule for a Python number stored into an element of type ``dt``: an
    integer type takes values in its range (floats then truncate toward zero), a float type
    finite values up to its largest (inf and nan stay as they are), bool anything.
    OverflowError otherwise, instead of the wrapped or saturated value a cast gives."""
    if isinstance(value, (bool, np.bool_)):
        return
    if isinstance(value, (int, np.integer)):
        check_python_int(value, op)
    if dt is bool_:
        return
    if dt.is_floating_point:
        # int() keeps huge Python ints exact; float() of one beyond float64 overflows
        v = float(value) if isinstance(value, (float, np.floating)) else int(value)
        if abs(v) > _FLOAT_MAX[dt] and not (isinstance(v, float) and math.isinf(v)):
            raise overflow_error(op, dt)
        return
    lo, hi = INT_RANGE[dt]
    # Python compares floats with ints exactly; NaN compares false
    v = float(value) if isinstance(value, (float, np.floating)) else int(value)
    if not lo <= v <= hi:
        raise overflow_error(op, dt)


def _promote_pair(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if {a, b} == {float16, bfloat16}:
        return float32
    return a if a._rank > b._rank else b


WRAPPED_NUMBER = 2  # result_type's tier for a Python number


def scalar_dtype(value: Any, op: str = "tensor") -> dtype:
    """The dtype a Python scalar gets on its own (int64 for any int; one that doesn't
    fit int64 raises where it is stored, e.g. ``full``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        check_python_int(value, op)
        return int64
    if isinstance(value, (float, np.floating)):
        return default_float
    raise TypeError(f"ember: expected a number, got {type(value).__name__}")


def result_type(*operands: tuple[dtype, int]) -> dtype:
    """PyTorch's promotion: operands are (dtype, tier) with tier 0 for a tensor with
    dimensions, 1 (or True) for a 0-d tensor, 2 for a Python number (WRAPPED_NUMBER). The
    highest category wins; inside it, the lowest tier present decides, so ``int32 0-d
    tensor + 1`` stays int32 and ``float16 tensor + 1.5`` stays float16."""
    top = max(d.category for d, _ in operands)
    for tier in (0, 1, 2):
        picked = None
        for d, t in operands:
            if d.category == top and int(t) == tier:
                picked = d if picked is None else _promote_pair(picked, d)
        if picked is not None:
            return picked
    raise AssertionError("unreachable")
