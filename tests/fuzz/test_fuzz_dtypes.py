"""Fuzz dtype conversions and number promotion against PyTorch (issue 13, defects 6 and 7).

Tensor creation from Python numbers, nested lists and numpy arrays of every numpy dtype,
into every ember dtype: ember's answer equals torch's (dtype and values), or both raise,
or ember raises where it is stricter on purpose (an integer dtype gets a value it can't
hold, which torch wraps for numpy data; numpy dtypes ember lacks and can't widen exactly).
Never a silently different value. Number promotion: the ops of tests/test_promotion.py
with any number."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
from test_promotion import DTYPES, OPS, check_number_op

torch = pytest.importorskip("torch")

TARGETS = [None, *DTYPES]
# numpy dtypes ember widens exactly to int64 / float64 where torch keeps its own type
WIDENED = {"uint8": "int64", "int16": "int64", "uint16": "int64", "uint32": "int64"}
INT_BOUNDS = {"int8": 2**7, "int32": 2**31, "int64": 2**63}  # -lo and hi + 1

numbers = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-300, 300),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 127.9, -128.9, 2.0**63, -(2.0**63), 65504.0, 65520.0]),
)
python_data = st.one_of(
    numbers,
    st.lists(st.integers(-(2**65), 2**65), min_size=1, max_size=4),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4),
    st.lists(st.lists(st.integers(-200, 200), min_size=2, max_size=2), min_size=1, max_size=3),
)
NUMPY_DTYPES = [
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64",
]  # fmt: skip
numpy_data = st.sampled_from(NUMPY_DTYPES).flatmap(
    lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
)


def _answer(lib, data, dt):
    try:
        t = lib.tensor(data, dtype=None if dt is None else getattr(lib, dt))
    except Exception as e:  # noqa: BLE001 - the exception is the answer
        return e
    name = str(t.dtype).split(".")[-1]
    return name, np.asarray(t.tolist() if name == "bool" else t.double().tolist(), np.float64)


def _ember_stricter(data, dt, err):
    """Why ember may refuse what torch accepts (None: it may not)."""
    if isinstance(err, TypeError) and isinstance(data, np.ndarray):
        return "uint64 / complex numpy arrays" if data.dtype.kind in "uc" else None
    if isinstance(err, OverflowError) and dt in INT_BOUNDS:
        vals = np.asarray(data)
        if vals.dtype.kind in "iub":
            return None if vals.dtype.kind == "b" else "numpy ints out of range (torch wraps)"
        # float data torch casts silently beyond range (UB in C++) or to int64 min
        lo, hi = -INT_BOUNDS[dt], INT_BOUNDS[dt]
        with np.errstate(invalid="ignore"):
            f = vals.astype(np.float64)
            return None if ((f >= lo) & (f < hi)).all() else "floats out of range"
    return None


def _check_creation(data, dt):
    theirs, ours = _answer(torch, data, dt), _answer(ember, data, dt)
    if isinstance(ours, Exception):
        assert isinstance(ours, (TypeError, ValueError, OverflowError)), repr(ours)
        if not isinstance(theirs, Exception):
            assert _ember_stricter(data, dt, ours), f"ember: {ours!r}; torch: {theirs}"
        return
    assert not isinstance(theirs, Exception), f"torch: {theirs!r}; ember: {ours}"
    want = WIDENED.get(theirs[0], theirs[0]) if dt is None else theirs[0]
    assert ours[0] == want, f"dtype {ours[0]} != {want}"
    tol = 1e-2 if want in ("float16", "bfloat16") else 0
    np.testing.assert_allclose(ours[1], theirs[1], rtol=tol, atol=0, equal_nan=True)


@settings(max_examples=600, deadline=None)
@given(python_data, st.sampled_from(TARGETS))
def test_tensor_from_python_matches_torch(data, dt):
    _check_creation(data, dt)


# torch (the oracle) warns when it reads complex values as real; ember refuses them
@pytest.mark.filterwarnings("ignore:Casting complex values to real")
@settings(max_examples=400, deadline=None)
@given(numpy_data, st.sampled_from(TARGETS))
def test_tensor_from_numpy_matches_torch(arr, dt):
    _check_creation(arr, dt)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(NUMPY_DTYPES), st.integers(0, 3))
def test_from_numpy_shares_or_refuses(npdt, n):
    arr = np.arange(n).astype(npdt)
    try:
        t = ember.from_numpy(arr)
    except TypeError as e:
        assert npdt in str(e) and "supported" in str(e)
        return
    assert t.tolist() == arr.tolist()


@settings(max_examples=200, deadline=None)
@given(numbers, st.sampled_from(DTYPES))
def test_fill_paths_store_the_value_or_raise(value, dt):
    # full / fill_ / masked_fill / setitem agree with each other and with ember.tensor
    edt = getattr(ember, dt)
    outs = []
    for make in (
        lambda: ember.full((2,), value, dtype=edt),
        lambda: ember.zeros(2, dtype=edt).fill_(value),
        lambda: ember.zeros(2, dtype=edt).masked_fill(ember.tensor([True, True]), value),
    ):
        try:
            outs.append(make().double().tolist())
        except OverflowError:
            outs.append("overflow")
    assert outs[0] == outs[1] == outs[2] or all(
        isinstance(o, list) and all(math.isnan(v) for v in o) for o in outs
    ), outs
    if outs[0] != "overflow" and edt in (ember.int8, ember.int32, ember.int64):
        assert outs[0] == ember.tensor([value, value], dtype=edt).double().tolist()


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(sorted(OPS)), st.sampled_from(DTYPES), numbers, st.booleans())
def test_number_promotion_matches_torch(op, dt, s, zero_d):
    check_number_op(op, dt, s, zero_d)
