"""ember._C_cuda and ember.cuda: raw-binding tests.

Without a GPU (here and in CI) these check that everything imports and degrades
cleanly, and drive every argument check of the CUDA bindings with "fake" CUDA
tensors (host memory relabelled as cuda:0 through DLPack), which must fail
before any memory is touched. With a GPU (`-m cuda`) they compare every kernel
against numpy float64 and against ember's own CPU kernels (bit-exact for
copies and conversions).
"""

import ctypes
import gc

import ember._C as _C
import numpy as np
import pytest

import ember.cuda
from reference import (
    ARITH_OPS,
    COMPARE_OPS,
    INT_UNARY_OPS,
    LOGICAL_OPS,
    UNARY_OPS,
    grad_ref,
    unary_ref,
)

try:
    import ember._C_cuda as C
except ImportError:
    C = None

HAS_GPU = ember.cuda.is_available()
BOOL, I8, I32, I64, F16, BF16, F32, F64 = range(8)
ALL_DTYPES = [BOOL, I8, I32, I64, F16, BF16, F32, F64]
NP_TYPE = {
    BOOL: np.bool_,
    I8: np.int8,
    I32: np.int32,
    I64: np.int64,
    F16: np.float16,
    BF16: np.uint16,  # bit patterns; no numpy bfloat16
    F32: np.float32,
    F64: np.float64,
}
TOL = {F32: {"rtol": 1e-5, "atol": 1e-6}, F64: {"rtol": 1e-12, "atol": 1e-14}}

needs_ext = pytest.mark.skipif(C is None, reason="ember._C_cuda was not built")
no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]


# ---------------------------------------------------------------- helpers


def cpu(arr):
    """CPU TensorImpl viewing a numpy array; uint16 arrays are bfloat16 bit patterns."""
    if arr.dtype == np.uint16:
        return _C.TensorImpl.from_buffer(arr.view(np.float16)).view_as_dtype(BF16)
    return _C.TensorImpl.from_buffer(arr)


def to_numpy(impl):
    """A CPU TensorImpl as a numpy array (bfloat16 as uint16 bits)."""
    if impl.dtype == BF16:
        return np.asarray(impl.view_as_dtype(F16)).view(np.uint16).copy()
    return np.asarray(impl).copy()


def upload(arr, device=0):
    code = BF16 if arr.dtype == np.uint16 else dtype_code(arr.dtype)
    d = C.empty(list(arr.shape), code, device)
    C.copy(cpu(arr), d)
    return d


def download(d):
    out = _C.TensorImpl.empty(list(d.shape), d.dtype)
    C.copy(d, out)
    return to_numpy(out)


def dtype_code(np_dtype):
    for code, t in NP_TYPE.items():
        if code != BF16 and np.dtype(t) == np.dtype(np_dtype):
            return code
    raise TypeError(np_dtype)


def random_array(rng, shape, code):
    """Random values of a dtype: varied signs and magnitudes, no NaN."""
    n = int(np.prod(shape))
    if code == BOOL:
        return (rng.random(n) < 0.5).reshape(shape)
    if code in (I8, I32, I64):
        info = np.iinfo(NP_TYPE[code])
        return rng.integers(info.min, info.max, n, endpoint=True, dtype=NP_TYPE[code]).reshape(
            shape
        )
    if code == BF16:
        bits = (rng.normal(0, 30, n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return bits.reshape(shape)
    return (rng.normal(0, 30, n)).astype(NP_TYPE[code]).reshape(shape)


def cpu_convert(arr_impl, code, shape=None):
    """Reference: ember's CPU copy (the conversion rules CUDA must match bit for bit)."""
    out = _C.TensorImpl.empty(list(shape if shape is not None else arr_impl.shape), code)
    _C.copy(arr_impl, out)
    return to_numpy(out)


def poisoned(shape, code, device=0):
    d = C.empty(list(shape), code, device)
    C.fill(d, float("nan") if code in (F16, BF16, F32, F64) else 123)
    return d


def fake_cuda(arr):
    """A TensorImpl labelled cuda:0 over host memory (via DLPack), for argument checks.

    It must never reach a kernel: only use it without a GPU.
    """
    cap = cpu(arr).to_dlpack()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(cap, b"dltensor")
    # DLTensor: void* data; DLDevice {int32 device_type; int32 device_id}; ...
    ctypes.c_int32.from_address(ptr + 8).value = 2  # kDLCUDA
    impl = _C.from_dlpack(cap)
    assert impl.device_type == 1
    return impl


# ------------------------------------------------------ without a GPU


@no_gpu
def test_is_available_false_without_gpu():
    assert ember.cuda.is_available() is False
    assert ember.cuda.device_count() == 0


@no_gpu
def test_module_raises_clear_error_without_gpu():
    with pytest.raises(RuntimeError, match="built without CUDA|no CUDA GPU is available"):
        ember.cuda._module()
    with pytest.raises(RuntimeError):
        ember.cuda.synchronize()


@needs_ext
def test_extension_imports():
    assert isinstance(C.is_available(), bool)
    assert C.device_count() >= 0
    assert C.is_available() == (C.device_count() > 0)
    assert C.is_available() == ember.cuda.is_available()


@needs_ext
@no_gpu
def test_extension_without_gpu():
    assert C.is_available() is False
    assert C.device_count() == 0
    assert C.unavailable_reason() != ""
    with pytest.raises(RuntimeError, match="ember.empty: no CUDA GPU is available"):
        C.empty([2], F32)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        C.get_device_name()
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        C.synchronize()
    assert C.memory_allocated() == 0
    assert C.memory_reserved() == 0
    C.empty_cache()


@needs_ext
def test_empty_checks_arguments_first():
    with pytest.raises(ValueError, match="unknown dtype code"):
        C.empty([2], 9)
    with pytest.raises(ValueError, match="negative dimension"):
        C.empty([-1, 2], F32)


@needs_ext
def test_cpu_only_copy_rejected():
    a = cpu(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="ember.copy: neither tensor is on cuda"):
        C.copy(a, a)


@needs_ext
def test_ops_reject_cpu_tensors():
    a = cpu(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="ember.exp: input is on cpu, expected cuda"):
        C.unary("exp", a, a)
    with pytest.raises(ValueError, match="ember.add: first input is on cpu, expected cuda"):
        C.binary("add", a, a, a)
    with pytest.raises(ValueError, match="ember.where: condition is on cpu"):
        C.where(a, a, a, a)
    with pytest.raises(ValueError, match="ember.fill: destination is on cpu"):
        C.fill(a, 1.0)
    with pytest.raises(ValueError, match="ember.tanh_backward: x is on cpu"):
        C.unary_backward("tanh", a, a, a, a)


@needs_ext
@no_gpu
def test_argument_checks_with_fake_cuda_tensors():
    f32 = fake_cuda(np.zeros((3, 4), np.float32))
    f32b = fake_cuda(np.zeros((3, 4), np.float32))
    f64 = fake_cuda(np.zeros((3, 4), np.float64))
    i32 = fake_cuda(np.zeros((3, 4), np.int32))
    b = fake_cuda(np.zeros((3, 4), np.bool_))
    wrong = fake_cuda(np.zeros((5,), np.float32))
    host = cpu(np.zeros((3, 4), np.float32))

    # unary
    with pytest.raises(ValueError, match=r"ember.unary: unknown op 'foo' \(expected one of"):
        C.unary("foo", f32, f32b)
    with pytest.raises(TypeError, match="ember.exp: dtypes differ"):
        C.unary("exp", f32, f64)
    with pytest.raises(TypeError, match="ember.exp: not supported for dtype int32"):
        C.unary("exp", i32, i32)
    with pytest.raises(ValueError, match=r"ember.exp: input shape \(3, 4\) and output shape"):
        C.unary("exp", f32, wrong)
    with pytest.raises(ValueError, match="ember.exp: output is on cpu"):
        C.unary("exp", f32, host)
    bcast = f32.as_strided([3, 4], [0, 1], 0)
    with pytest.raises(ValueError, match="is a broadcast or overlapping view"):
        C.unary("exp", f32, bcast)

    # unary_backward
    with pytest.raises(ValueError, match="ember.unary_backward: op 'exp' has no fused backward"):
        C.unary_backward("exp", f32, f32, f32, f32b)
    with pytest.raises(ValueError, match="ember.unary_backward: unknown op 'bar'"):
        C.unary_backward("bar", f32, f32, f32, f32b)
    with pytest.raises(TypeError, match="ember.relu_backward: expected float32 or float64"):
        C.unary_backward("relu", i32, i32, i32, i32)
    with pytest.raises(TypeError, match="ember.relu_backward: expected grad_in of dtype float32"):
        C.unary_backward("relu", f32, f32, f32, f64)
    with pytest.raises(ValueError, match=r"ember.relu_backward: grad_out has shape \(5,\)"):
        C.unary_backward("relu", f32, f32, wrong, f32b)
    with pytest.raises(ValueError, match="ember.relu_backward: x of shape .* must be contiguous"):
        C.unary_backward("relu", f32.as_strided([4, 3], [1, 4], 0), f32, f32, f32b)

    # binary
    with pytest.raises(ValueError, match="ember.binary: unknown op 'foo'"):
        C.binary("foo", f32, f32, f32b)
    with pytest.raises(TypeError, match="ember.add: dtypes differ"):
        C.binary("add", f32, f64, f32b)
    with pytest.raises(TypeError, match="ember.add: output dtype float64 differs"):
        C.binary("add", f32, f32, f64)
    with pytest.raises(TypeError, match="ember.lt: expected output of dtype bool"):
        C.binary("lt", f32, f32, f32b)
    with pytest.raises(TypeError, match="ember.div: not supported for integer dtype int32"):
        C.binary("div", i32, i32, i32)
    with pytest.raises(TypeError, match="ember.logical_and: not supported for dtype float32"):
        C.binary("logical_and", f32, f32, b)
    with pytest.raises(ValueError, match=r"ember.add: shapes \(3, 4\) and \(5,\) do not broadcast"):
        C.binary("add", f32, wrong, f32b)
    with pytest.raises(ValueError, match="ember.add: second input is on cpu"):
        C.binary("add", f32, host, f32b)
    with pytest.raises(ValueError, match="is a broadcast or overlapping view"):
        C.binary("add", f32, f32, bcast)

    # where
    with pytest.raises(TypeError, match="ember.where: expected condition of dtype bool"):
        C.where(f32, f32, f32, f32b)
    with pytest.raises(TypeError, match="ember.where: dtypes differ"):
        C.where(b, f32, f64, f32b)
    with pytest.raises(ValueError, match="ember.where: shapes .* do not broadcast"):
        C.where(b, f32, wrong, f32b)

    # copy / fill
    strided_host = cpu(np.zeros((4, 3), np.float32)).as_strided([3, 4], [1, 3], 0)
    with pytest.raises(ValueError, match="a CPU destination of a device-to-host copy must be"):
        C.copy(f32, strided_host)
    with pytest.raises(ValueError, match="ember.copy: cannot broadcast"):
        C.copy(wrong, f32)

    # Valid arguments get as far as the device, then a clean RuntimeError.
    for call in (
        lambda: C.unary("exp", f32, f32b),
        lambda: C.binary("add", f32, f32, f32b),
        lambda: C.where(b, f32, f32, f32b),
        lambda: C.fill(f32, 1.0),
        lambda: C.copy(f32, f32b),
        lambda: C.copy(host, f32),
        lambda: C.copy(f32, host),
        lambda: C.unary_backward("tanh", f32, f32, f32, f32b),
    ):
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            call()


def test_cuda_namespace_api():
    assert ember.cuda.is_built() == (C is not None)
    for name in (
        "is_built",
        "is_available",
        "device_count",
        "synchronize",
        "memory_allocated",
        "memory_reserved",
        "empty_cache",
        "get_device_name",
        "_module",
    ):
        assert callable(getattr(ember.cuda, name))
    assert ember.cuda.is_available() == (ember.cuda.device_count() > 0)
    if not ember.cuda.is_available():
        # Without a GPU every device query fails with one clear error, never a crash.
        for call in (
            ember.cuda.synchronize,
            ember.cuda.memory_allocated,
            ember.cuda.memory_reserved,
            ember.cuda.empty_cache,
            ember.cuda.get_device_name,
        ):
            with pytest.raises(RuntimeError, match="without CUDA|no CUDA GPU is available"):
                call()


# ------------------------------------------------------------ with a GPU


class TestDevice:
    pytestmark = GPU

    def test_properties(self):
        assert ember.cuda.device_count() >= 1
        name = ember.cuda.get_device_name()
        assert isinstance(name, str) and name
        ember.cuda.synchronize()
        assert ember.cuda._module() is C
        with pytest.raises(ValueError, match="invalid CUDA device index"):
            C.empty([2], F32, ember.cuda.device_count())

    def test_empty_metadata(self):
        d = C.empty([3, 5], F32)
        assert d.shape == (3, 5)
        assert d.strides == (5, 1)
        assert d.dtype == F32
        assert d.device_type == 1 and d.device_index == 0
        assert d.is_contiguous


class TestCopy:
    pytestmark = GPU

    @pytest.mark.parametrize("code", ALL_DTYPES)
    @pytest.mark.parametrize("shape", [(0,), (1,), (1000003,), (3, 0, 2), (7, 33)])
    def test_round_trip(self, rng, code, shape):
        arr = random_array(rng, shape, code)
        d = upload(arr)
        assert d.shape == shape and d.dtype == code
        back = download(d)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        np.testing.assert_array_equal(back.view(np.uint8), arr.view(np.uint8))

    @pytest.mark.parametrize("src_code", ALL_DTYPES)
    @pytest.mark.parametrize("dst_code", ALL_DTYPES)
    def test_conversions_match_cpu(self, rng, src_code, dst_code):
        # Values every conversion handles the same way on both (in range for int8,
        # halves included), plus the specials for float sources.
        vals = np.concatenate(
            [rng.normal(0, 40, 997), np.arange(-130, 131), [0.0, -0.0, 0.5, 1.5, 2.5, -2.5]]
        ).clip(-127, 127)
        if src_code in (F32, F64):
            vals = np.concatenate([vals, [np.inf, -np.inf, np.nan, 1e10, -1e10, 65520.0, 1e-8]])
        src = cpu_convert(cpu(vals), src_code)
        want = cpu_convert(cpu(src), dst_code)
        d = upload(src)
        # device -> device conversion, then plain download
        dd = poisoned(d.shape, dst_code)
        C.copy(d, dd)
        np.testing.assert_array_equal(download(dd).view(np.uint8), want.view(np.uint8))
        # host -> device with conversion (through a device buffer)
        dd2 = poisoned(d.shape, dst_code)
        C.copy(cpu(src), dd2)
        np.testing.assert_array_equal(download(dd2).view(np.uint8), want.view(np.uint8))
        # device -> host with conversion
        out = _C.TensorImpl.empty(list(d.shape), dst_code)
        C.copy(d, out)
        np.testing.assert_array_equal(to_numpy(out).view(np.uint8), want.view(np.uint8))

    def test_float_to_int_saturates(self):
        vals = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 300.0, -300.0, 3.9, -3.9])
        for code in (I8, I32, I64):
            d = upload(vals)
            out = poisoned(vals.shape, code)
            C.copy(d, out)
            np.testing.assert_array_equal(download(out), cpu_convert(cpu(vals), code))

    VIEWS = [
        # (base shape, view shape, strides, offset)
        ((6, 40), (40, 6), (1, 40), 0),  # transpose
        ((6, 40), (3, 13), (80, 3), 5),  # steps in both dims, offset
        ((6, 40), (2, 3, 4, 5), (120, 40, 10, 2), 1),
        ((6, 40), (4, 5), (0, 1), 7),  # broadcast rows
        ((6, 40), (5, 4), (1, 0), 3),  # broadcast columns
        ((6, 40), (2, 1, 3, 1, 2), (100, 7, 20, 9, 1), 2),  # size-1 dims with odd strides
        ((2000, 600), (600, 1999), (1, 600), 600),  # a large transpose
    ]

    @pytest.mark.parametrize("base, shape, strides, offset", VIEWS)
    @pytest.mark.parametrize("codes", [(F64, F64), (F64, F32), (F32, BF16), (I32, F16), (F32, I8)])
    def test_strided_sources(self, rng, base, shape, strides, offset, codes):
        src_code, dst_code = codes
        arr = cpu_convert(cpu(rng.normal(0, 50, base)), src_code)
        host_view = cpu(arr).as_strided(list(shape), list(strides), offset)
        want = cpu_convert(host_view, dst_code)
        dev_view = upload(arr).as_strided(list(shape), list(strides), offset)
        # device strided -> device contiguous
        out = poisoned(shape, dst_code)
        C.copy(dev_view, out)
        np.testing.assert_array_equal(download(out).view(np.uint8), want.view(np.uint8))
        # device strided -> host
        h = _C.TensorImpl.empty(list(shape), dst_code)
        C.copy(dev_view, h)
        np.testing.assert_array_equal(to_numpy(h).view(np.uint8), want.view(np.uint8))
        # host strided -> device (uploads the view's span)
        out2 = poisoned(shape, dst_code)
        C.copy(host_view, out2)
        np.testing.assert_array_equal(download(out2).view(np.uint8), want.view(np.uint8))

    @pytest.mark.parametrize(
        "src_shape, dst_shape",
        [((1, 5), (4, 5)), ((5,), (3, 4, 5)), ((), (2, 3)), ((3, 1), (3, 7))],
    )
    def test_broadcast(self, rng, src_shape, dst_shape):
        src = np.asarray(rng.normal(size=src_shape))
        want = np.broadcast_to(src, dst_shape).astype(np.float32)
        out = poisoned(dst_shape, F32)
        C.copy(upload(src), out)
        np.testing.assert_array_equal(download(out), want)
        out = poisoned(dst_shape, F32)
        C.copy(cpu(src), out)
        np.testing.assert_array_equal(download(out), want)
        h = _C.TensorImpl.empty(list(dst_shape), F32)
        C.copy(upload(src), h)
        np.testing.assert_array_equal(to_numpy(h), want)
        # a numpy broadcast (stride 0) source
        out = poisoned(dst_shape, F64)
        C.copy(cpu(np.broadcast_to(src, dst_shape)), out)
        np.testing.assert_array_equal(download(out), np.broadcast_to(src, dst_shape))

    def test_strided_destination_leaves_the_rest(self, rng):
        base = poisoned((8, 10), F32)
        view = base.as_strided([4, 5], [20, 2], 1)  # rows 0,2,4,6; columns 1,3,5,7,9
        src = rng.normal(size=(4, 5))
        C.copy(cpu(src), view)
        got = download(base)
        want = np.full((8, 10), np.nan, np.float32)
        want[0::2, 1::2] = src.astype(np.float32)
        np.testing.assert_array_equal(got, want)

    def test_overlapping_device_copy(self, rng):
        arr = rng.normal(size=100)
        d = upload(arr)
        # shift right by one within the same storage: d[1:] = d[:-1]
        C.copy(d.as_strided([99], [1], 0), d.as_strided([99], [1], 1))
        want = arr.copy()
        want[1:] = arr[:-1]
        np.testing.assert_array_equal(download(d), want)
        # in-place transpose-like overlap with conversion-free strided views
        m = rng.normal(size=(6, 6))
        dm = upload(m)
        C.copy(dm.as_strided([6, 6], [1, 6], 0), dm)
        np.testing.assert_array_equal(download(dm), m.T)

    def test_device_to_host_needs_contiguous_destination(self):
        d = upload(np.zeros((3, 4)))
        h = cpu(np.zeros((4, 3))).as_strided([3, 4], [1, 3], 0)
        with pytest.raises(ValueError, match="a CPU destination of a device-to-host copy"):
            C.copy(d, h)

    def test_too_many_dims(self):
        # 9 dims whose strides cannot be merged
        shape = [2] * 9
        strides = [3**i for i in range(8, -1, -1)]
        d = upload(np.zeros(3**9))
        view = d.as_strided(shape, strides, 0)
        with pytest.raises(ValueError, match="at most 8"):
            C.copy(view, C.empty(shape, F64))

    @pytest.mark.parametrize("code", ALL_DTYPES)
    def test_fill(self, code):
        for value in (2.5, -1.0, 0.0, 1e10, float("nan")):
            d = C.empty([1001], code)
            C.fill(d, value)
            want = _C.TensorImpl.empty([1001], code)
            _C.fill(want, value)
            np.testing.assert_array_equal(download(d).view(np.uint8), to_numpy(want).view(np.uint8))
        # strided fill touches only the view
        base = C.empty([10, 10], code)
        C.fill(base, 0.0)
        C.fill(base.as_strided([5, 5], [20, 2], 0), 1.0)
        got = download(base)
        ref = _C.TensorImpl.empty([10, 10], code)
        _C.fill(ref, 0.0)
        _C.fill(ref.as_strided([5, 5], [20, 2], 0), 1.0)
        np.testing.assert_array_equal(got.view(np.uint8), to_numpy(ref).view(np.uint8))


# -------------------------------------------------------------- unary
ROUNDING_OPS = ["floor", "ceil", "trunc", "round"]
# Awkward inputs: signed zeros, halves (ties to even), values next to them and past 2**52
# (integral already), -1 and below for log1p, overflow and underflow for expm1, tiny and
# subnormal values for log1p / expm1 / erf.
AWKWARD = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -0.4, 0.4, 0.49999997, -0.49999997]
AWKWARD += [4194304.5, -4194304.5, 8388609.0, 2.0**52 + 1, 1e30, -1e30, np.inf, -np.inf, np.nan]
AWKWARD += [-1.0, -1.5, -0.999, 1e-30, -1e-30, 1e-40, -1e-40, 1e-8, -1e-8, 1e-300, 5e-324]
AWKWARD += [88.72, 88.73, 89.0, 709.7, 710.0, -100.0, -104.0, -800.0, 6.0, -6.0, 30.0]
# Worst-case ulps of CUDA's libm (CUDA C Programming Guide, "Mathematical Functions"):
# log1pf / expm1f 1, erff 2, and the same for the double versions.
LIBM_ULPS = {"log1p": 1, "expm1": 1, "erf": 2}


def float_ulps(got, want, code):
    """|got - want| in units of got's dtype spacing at want."""
    t = NP_TYPE[code]
    spacing = np.spacing(np.abs(want).astype(t)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


def cpu_unary(op, x, alpha=0.0, beta=0.0):
    """ember's CPU kernel on x (a numpy array)."""
    out = _C.TensorImpl.empty(list(x.shape), dtype_code(x.dtype))
    _C.unary(op, cpu(x), out, alpha, beta)
    return to_numpy(out)


def unary_input(rng, op, n, code):
    if op in ("log", "sqrt", "rsqrt"):
        x = rng.uniform(0.05, 5.0, n)
    elif op == "log1p":
        x = rng.uniform(-0.95, 5.0, n)
    elif op in ROUNDING_OPS:
        # exact halves and integers (ties to even for round), a few just off them
        x = rng.integers(-40, 40, n) / 4.0 + rng.choice([0.0, 0.0, 1e-3], n)
    else:
        x = rng.uniform(-4.0, 4.0, n)
    return x.astype(NP_TYPE[code])


class TestUnary:
    pytestmark = GPU

    @pytest.mark.parametrize("op", UNARY_OPS)
    @pytest.mark.parametrize("code", [F32, F64])
    @pytest.mark.parametrize("n", [1, 7, 1025, 100003])
    def test_float_contiguous(self, rng, op, code, n):
        x = unary_input(rng, op, n, code)
        out = poisoned((n,), code)
        C.unary(op, upload(x), out, -0.5, 0.7)
        np.testing.assert_allclose(download(out), unary_ref(op, x, -0.5, 0.7), **TOL[code])

    @pytest.mark.parametrize("op", UNARY_OPS)
    @pytest.mark.parametrize("code", [F32, F64])
    def test_float_strided_and_inplace(self, rng, op, code):
        x = unary_input(rng, op, 31 * 17, code).reshape(31, 17)
        dx = upload(x)
        out = poisoned((17, 31), code)
        C.unary(op, dx.as_strided([17, 31], [1, 17], 0), out, -0.5, 0.7)
        np.testing.assert_allclose(download(out), unary_ref(op, x.T, -0.5, 0.7), **TOL[code])
        # misaligned start (offset 1): the unvectorized contiguous path
        dv = dx.as_strided([31 * 17 - 1], [1], 1)
        out = poisoned((31 * 17 - 1,), code)
        C.unary(op, dv, out, -0.5, 0.7)
        np.testing.assert_allclose(
            download(out), unary_ref(op, x.ravel()[1:], -0.5, 0.7), **TOL[code]
        )
        # in place (out is x)
        C.unary(op, dx, dx, -0.5, 0.7)
        np.testing.assert_allclose(download(dx), unary_ref(op, x, -0.5, 0.7), **TOL[code])

    @pytest.mark.parametrize("op", INT_UNARY_OPS)
    @pytest.mark.parametrize("code", [I8, I32, I64])
    def test_int(self, rng, op, code):
        x = random_array(rng, (1003,), code)
        x[:4] = [np.iinfo(x.dtype).min, np.iinfo(x.dtype).max, 0, -1]
        out = poisoned(x.shape, code)
        C.unary(op, upload(x), out, -5.5, 7.2)
        with np.errstate(over="ignore"):
            want = {
                "neg": lambda: -x,
                "abs": lambda: np.abs(x),
                "relu": lambda: np.maximum(x, 0),
                "clamp": lambda: np.clip(x, -5, 7),
            }[op]()
        np.testing.assert_array_equal(download(out), want.astype(x.dtype))

    def test_clamp_bounds(self, rng):
        x = rng.normal(0, 10, 1000)
        for lo, hi in [(-np.inf, 0.5), (-1.0, np.inf), (-np.inf, np.inf), (3.0, 1.0)]:
            out = poisoned(x.shape, F64)
            C.unary("clamp", upload(x), out, lo, hi)
            want = np.minimum(np.maximum(x, lo), hi)
            np.testing.assert_array_equal(download(out), want)
        xi = np.arange(-300, 300, dtype=np.int64)
        out = poisoned(xi.shape, I64)
        C.unary("clamp", upload(xi), out, -np.inf, 1e300)
        np.testing.assert_array_equal(download(out), xi)

    @pytest.mark.parametrize("code", [F32, F64])
    @pytest.mark.parametrize("op", ROUNDING_OPS)
    def test_rounding_awkward_values(self, op, code):
        # exact: the float64 reference, the CPU kernel and the sign of zero all agree
        with np.errstate(over="ignore"):
            x = np.array(AWKWARD, NP_TYPE[code])
        out = poisoned(x.shape, code)
        C.unary(op, upload(x), out, 0.0, 0.0)
        got = download(out)
        want = unary_ref(op, x).astype(x.dtype)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got.view(np.uint8), cpu_unary(op, x).view(np.uint8))
        if op == "round":  # halves to even, -0.5 to -0
            assert got[:9].tolist() == [0.0, -0.0, 0.0, -0.0, 2.0, -2.0, 2.0, -2.0, 4.0]
            assert np.signbit(got[3])

    @pytest.mark.parametrize("code", [F32, F64])
    def test_round_decimals(self, rng, code):
        # torch.round(x, decimals): rint(x * 10^d) / 10^d (d < 0: rint(x / 10^-d) * 10^-d),
        # in x's dtype; bit for bit the CPU kernel, which the CPU tests hold to numpy
        x = (rng.standard_normal(1001) * 1000).astype(NP_TYPE[code])
        x[:4] = [1.25, 1.35, 1250.0, -0.001]
        for d in (3, 2, 1, -1, -2, -3, 40, -40, 400):
            out = poisoned(x.shape, code)
            C.unary("round", upload(x), out, float(d), 0.0)
            got = download(out)
            np.testing.assert_array_equal(
                got.view(np.uint8), cpu_unary("round", x, float(d)).view(np.uint8), err_msg=d
            )
            if abs(d) <= 3:
                s = NP_TYPE[code](10.0 ** abs(d))
                want = np.rint(x * s) / s if d > 0 else np.rint(x / s) * s
                np.testing.assert_array_equal(got, want)
        out = poisoned(x.shape, code)
        C.unary("round", upload(x), out, 1.0, 0.0)
        assert download(out)[0] == NP_TYPE[code](1.2)  # 12.5 -> 12

    @pytest.mark.parametrize("code", [F32, F64])
    @pytest.mark.parametrize("op", ["log1p", "expm1", "erf"])
    def test_log1p_expm1_erf_awkward_values(self, op, code):
        with np.errstate(over="ignore"):
            x = np.array(AWKWARD, NP_TYPE[code])
        out = poisoned(x.shape, code)
        C.unary(op, upload(x), out, 0.0, 0.0)
        got = download(out)
        want = unary_ref(op, x)
        with np.errstate(over="ignore"):
            want_t = want.astype(x.dtype)  # overflows to inf as the dtype would
        # inf and NaN where the dtype's answer is, and the sign of zero, exactly
        limits = ~np.isfinite(want_t)
        np.testing.assert_array_equal(got[limits], want_t[limits])
        np.testing.assert_array_equal(got[limits], cpu_unary(op, x)[limits])
        np.testing.assert_array_equal(np.signbit(got[:2]), [False, True])
        # the rest within CUDA's documented ulps of the float64 (math / numpy) value
        ulps = float_ulps(got[~limits], want[~limits], code)
        assert ulps.max() <= LIBM_ULPS[op], (x[~limits][ulps.argmax()], ulps.max())
        if op == "log1p":  # log1p(-1) = -inf, below -1 NaN, tiny x is x
            assert got[x == -1.0].tolist() == [-np.inf]
            assert np.isnan(got[x < -1.0]).all()
        tiny = (np.abs(x) < 1e-20) & (x != 0)
        if op != "erf":  # log1p / expm1 of a tiny x is x itself (no cancellation)
            np.testing.assert_array_equal(got[tiny], x[tiny])

    @pytest.mark.parametrize("code", [F32, F64])
    @pytest.mark.parametrize("op", ["log1p", "expm1", "erf"])
    def test_log1p_expm1_erf_ulps(self, rng, op, code):
        # dense over the interesting range plus tiny values of both signs, against math's
        # float64 functions (float64 inputs: rtol of a few float64 ulps)
        x = np.concatenate(
            [
                np.linspace(-6, 6, 20001),
                np.exp(rng.uniform(-40, 0, 5000)) * rng.choice([-1, 1], 5000),
                rng.uniform(-80, 80, 5000),
            ]
        ).astype(NP_TYPE[code])
        if op == "log1p":
            x = x[x > -1]
        out = poisoned(x.shape, code)
        C.unary(op, upload(x), out, 0.0, 0.0)
        got = download(out)
        want = unary_ref(op, x)
        finite = np.isfinite(want) & (np.abs(want) < 3e38)
        assert np.isfinite(got[finite]).all()
        if code == F32:
            worst = float_ulps(got[finite], want[finite], code).max()
            assert worst <= LIBM_ULPS[op], worst
        else:
            np.testing.assert_allclose(got[finite], want[finite], rtol=4e-15, atol=0)

    def test_rounding_and_float_only_ops_reject_integers(self):
        # as the CPU kernel: ember.floor etc. copy integer tensors before reaching it
        d = upload(np.arange(4, dtype=np.int32))
        for op in [*ROUNDING_OPS, "log1p", "expm1", "erf"]:
            with pytest.raises(TypeError, match=f"ember.{op}: not supported for dtype int32"):
                C.unary(op, d, C.empty([4], I32))
            with pytest.raises(ValueError, match="has no fused backward"):
                C.unary_backward(op, upload(np.zeros(3)), *[upload(np.zeros(3))] * 3)

    def test_nan_handling(self):
        x = np.array([np.nan, -1.0, 2.0], np.float32)
        for op in ("relu", "clamp"):
            out = poisoned(x.shape, F32)
            C.unary(op, upload(x), out, -0.5, 0.5)
            assert np.isnan(download(out)[0])

    def test_errors(self):
        d = upload(np.zeros(4, np.int32))
        with pytest.raises(TypeError, match="ember.exp: not supported for dtype int32"):
            C.unary("exp", d, d)
        with pytest.raises(ValueError, match="unknown op"):
            C.unary("nope", d, d)
        with pytest.raises(ValueError, match="input shape"):
            C.unary("neg", d, C.empty([5], I32))
        with pytest.raises(ValueError, match="input is on cpu"):
            C.unary("neg", cpu(np.zeros(4, np.int32)), d)


class TestUnaryBackward:
    pytestmark = GPU

    @pytest.mark.parametrize(
        "op", ["tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "silu", "clamp"]
    )
    @pytest.mark.parametrize("code", [F32, F64])
    @pytest.mark.parametrize("n", [1, 17, 100003])
    def test_against_derivative(self, rng, op, code, n):
        x = rng.uniform(-4, 4, n).astype(NP_TYPE[code])
        x[np.abs(x) < 1e-3] = 0.5  # keep away from relu's kink
        g = rng.normal(size=n).astype(NP_TYPE[code])
        dx = upload(x)
        y = C.empty([n], code)
        C.unary(op, dx, y, -0.5, 0.7)
        gi = poisoned((n,), code)
        C.unary_backward(op, dx, y, upload(g), gi, -0.5, 0.7)
        tol = {"rtol": 1e-4, "atol": 1e-5} if code == F32 else {"rtol": 1e-10, "atol": 1e-12}
        np.testing.assert_allclose(download(gi), grad_ref(op, x, g, -0.5, 0.7), **tol)

    def test_errors(self):
        d = upload(np.zeros(6))
        with pytest.raises(ValueError, match="has no fused backward"):
            C.unary_backward("exp", d, d, d, d)
        with pytest.raises(ValueError, match="must be contiguous"):
            C.unary_backward(
                "relu",
                d.as_strided([3], [2], 0),
                d.as_strided([3], [2], 0),
                C.empty([3], F64),
                C.empty([3], F64),
            )


# ------------------------------------------------------------- binary


def binary_inputs(rng, op, shape_a, shape_b, code):
    if code in (F32, F64):
        t = NP_TYPE[code]
        if op == "pow":
            return (rng.uniform(0.1, 3, shape_a).astype(t), rng.uniform(-2, 2, shape_b).astype(t))
        a = rng.normal(0, 3, shape_a).astype(t)
        b = rng.normal(0, 3, shape_b).astype(t)
        if op == "div":
            b[np.abs(b) < 0.1] = 0.5
        if op in COMPARE_OPS:  # ties
            a = np.round(a).astype(t)
            b = np.round(b).astype(t)
        return a, b
    if code == BOOL:
        return rng.random(shape_a) < 0.5, rng.random(shape_b) < 0.5
    t = NP_TYPE[code]
    if op == "pow":
        return (rng.integers(-5, 6, shape_a).astype(t), rng.integers(0, 6, shape_b).astype(t))
    if op in COMPARE_OPS:
        return rng.integers(-3, 4, shape_a).astype(t), rng.integers(-3, 4, shape_b).astype(t)
    info = np.iinfo(t)
    return (
        rng.integers(info.min, info.max, shape_a, endpoint=True, dtype=t),
        rng.integers(info.min, info.max, shape_b, endpoint=True, dtype=t),
    )


def binary_ref(op, a, b, code):
    if code in (F32, F64):
        a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(over="ignore"):
        return {
            "add": lambda: a + b,
            "sub": lambda: a - b,
            "mul": lambda: a * b,
            "div": lambda: a / b,
            "pow": lambda: a**b,
            "maximum": lambda: np.maximum(a, b),
            "minimum": lambda: np.minimum(a, b),
            "eq": lambda: a == b,
            "ne": lambda: a != b,
            "lt": lambda: a < b,
            "le": lambda: a <= b,
            "gt": lambda: a > b,
            "ge": lambda: a >= b,
            "logical_and": lambda: a & b,
            "logical_or": lambda: a | b,
            "logical_xor": lambda: a ^ b,
        }[op]()


SHAPES = [((1000,), (1000,)), ((3, 1, 5), (4, 1)), ((1,), (7, 3)), ((2, 3, 4), (3, 4))]


def binary_cases():
    for op in ARITH_OPS:
        for code in (F32, F64, I8, I32, I64):
            if not (op == "div" and code in (I8, I32, I64)):
                yield op, code
    for op in COMPARE_OPS:
        for code in (BOOL, I8, I32, I64, F32, F64):
            yield op, code
    for op in LOGICAL_OPS:
        yield op, BOOL


class TestBinary:
    pytestmark = GPU

    @pytest.mark.parametrize("op, code", list(binary_cases()))
    @pytest.mark.parametrize("shapes", SHAPES)
    def test_against_numpy(self, rng, op, code, shapes):
        a, b = binary_inputs(rng, op, *shapes, code)
        out_shape = np.broadcast_shapes(a.shape, b.shape)
        out_code = code if op in ARITH_OPS else BOOL
        out = poisoned(out_shape, out_code)
        C.binary(op, upload(a), upload(b), out)
        got, want = download(out), binary_ref(op, a, b, code)
        if code in (F32, F64) and op in ARITH_OPS:
            np.testing.assert_allclose(got, want, **TOL[code])
        else:
            np.testing.assert_array_equal(got, want.astype(got.dtype))

    @pytest.mark.parametrize("op", ["add", "mul", "maximum"])
    def test_out_aliases_input(self, rng, op):
        a, b = rng.normal(size=(100, 7)), rng.normal(size=(7,))
        da = upload(a)
        C.binary(op, da, upload(b), da)
        np.testing.assert_allclose(download(da), binary_ref(op, a, b, F64), **TOL[F64])
        a32 = rng.normal(size=(1001,)).astype(np.float32)
        db = upload(a32)
        C.binary(op, upload(a32), db, db)
        np.testing.assert_allclose(download(db), binary_ref(op, a32, a32, F32), **TOL[F32])

    def test_strided_operands(self, rng):
        a, b = rng.normal(size=(64, 48)), rng.normal(size=(48, 64))
        out = poisoned((64, 48), F64)
        C.binary("sub", upload(a), upload(b).as_strided([64, 48], [1, 64], 0), out)
        np.testing.assert_allclose(download(out), a - b.T, **TOL[F64])

    def test_nan_propagation(self):
        a = np.array([np.nan, 1.0, np.nan, 2.0], np.float32)
        b = np.array([1.0, np.nan, np.nan, 3.0], np.float32)
        for op, want in (("maximum", np.maximum(a, b)), ("minimum", np.minimum(a, b))):
            out = poisoned(a.shape, F32)
            C.binary(op, upload(a), upload(b), out)
            np.testing.assert_array_equal(download(out), want)

    def test_integer_wraps(self):
        a = np.array([127, -128, 100], np.int8)
        b = np.array([1, -1, 100], np.int8)
        for op in ("add", "sub", "mul"):
            out = poisoned(a.shape, I8)
            C.binary(op, upload(a), upload(b), out)
            with np.errstate(over="ignore"):
                np.testing.assert_array_equal(download(out), binary_ref(op, a, b, I8))

    def test_integer_pow_negative_exponent(self):
        a = upload(np.array([2, 3, 4], np.int32))
        b = upload(np.array([1, -1, 2], np.int32))
        out = C.empty([3], I32)
        C.fill(out, 7)
        with pytest.raises(ValueError, match="ember.pow: integers to negative integer powers"):
            C.binary("pow", a, b, out)
        np.testing.assert_array_equal(download(out), [7, 7, 7])

    def test_large_broadcast(self, rng):
        # the strided kernel over 2^24 elements
        a = rng.normal(size=(4096, 1)).astype(np.float32)
        b = rng.normal(size=(1, 4096)).astype(np.float32)
        out = C.empty([4096, 4096], F32)
        C.binary("add", upload(a), upload(b), out)
        np.testing.assert_allclose(download(out), a + b, **TOL[F32])

    def test_errors(self):
        a = upload(np.zeros(4, np.float32))
        with pytest.raises(ValueError, match="first input is on cpu"):
            C.binary("add", cpu(np.zeros(4, np.float32)), a, a)
        with pytest.raises(ValueError, match="do not broadcast"):
            C.binary("add", a, upload(np.zeros(3, np.float32)), a)
        with pytest.raises(TypeError, match="dtypes differ"):
            C.binary("add", a, upload(np.zeros(4)), a)
        i = upload(np.zeros(4, np.int32))
        with pytest.raises(TypeError, match="not supported for integer dtype"):
            C.binary("div", i, i, i)
        if ember.cuda.device_count() > 1:
            other = upload(np.zeros(4, np.float32), device=1)
            with pytest.raises(ValueError, match="expected all tensors on one device"):
                C.binary("add", a, other, a)


class TestWhere:
    pytestmark = GPU

    @pytest.mark.parametrize("code", ALL_DTYPES)
    def test_against_numpy(self, rng, code):
        cond = rng.random((4, 1, 6)) < 0.5
        a = random_array(rng, (3, 6), code)
        b = random_array(rng, (1,), code)
        out = poisoned((4, 3, 6), code)
        C.where(upload(cond), upload(a), upload(b), out)
        want = np.where(cond, a, b)
        np.testing.assert_array_equal(download(out).view(np.uint8), want.view(np.uint8))

    def test_contiguous_large(self, rng):
        n = 100003
        cond = rng.random(n) < 0.3
        a, b = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
        out = poisoned((n,), F32)
        C.where(upload(cond), upload(a), upload(b), out)
        np.testing.assert_array_equal(download(out), np.where(cond, a, b))

    def test_errors(self):
        a = upload(np.zeros(4, np.float32))
        with pytest.raises(TypeError, match="expected condition of dtype bool"):
            C.where(a, a, a, a)


class TestOutputAliasing:
    pytestmark = GPU

    def test_partial_overlap_rejected_exact_alias_allowed(self, rng):
        host = rng.normal(size=10).astype(np.float32)
        buf = upload(host)
        view = lambda start: buf.as_strided([6], [1], start)  # noqa: E731
        with pytest.raises(ValueError, match=r"ember.add: output of shape \(6,\) overlaps second"):
            C.binary("add", view(2), view(0), view(2))
        with pytest.raises(ValueError, match=r"ember.exp: output of shape \(6,\) overlaps input"):
            C.unary("exp", view(0), view(1))
        np.testing.assert_array_equal(download(buf), host)  # nothing written
        C.binary("add", view(2), view(2), view(2))  # exactly the input: x.add_(x)
        want = host.copy()
        want[2:8] *= 2
        np.testing.assert_array_equal(download(buf), want)


# ---------------------------------------------------------- allocator


class TestAllocator:
    pytestmark = GPU

    def setup_method(self):
        gc.collect()
        C.synchronize()
        C.empty_cache()  # no cached block can serve (and distort) the sizes below

    def test_reuse_and_stats(self):
        base_alloc = C.memory_allocated()
        d = C.empty([1], F32)  # 4 bytes -> one 512-byte block
        assert C.memory_allocated() == base_alloc + 512
        del d
        assert C.memory_allocated() == base_alloc
        d = C.empty([3 << 18], F32)  # 3 MiB -> a 4 MiB block
        assert C.memory_allocated() == base_alloc + (4 << 20)
        del d
        reserved = C.memory_reserved()
        for _ in range(20):
            t = C.empty([1 << 20], F32)  # 4 MiB, served from the cache
            assert C.memory_reserved() == reserved
            del t
        assert C.memory_allocated() == base_alloc
        assert C.memory_reserved() == reserved

    def test_empty_cache(self):
        t = C.empty([1 << 20], F32)
        del t
        assert C.memory_reserved() >= 4 << 20
        ember.cuda.empty_cache()
        assert C.memory_reserved() == C.memory_allocated()
        if C.memory_allocated() == 0:
            assert C.memory_reserved() == 0
        assert ember.cuda.memory_reserved() == C.memory_reserved()
        assert ember.cuda.memory_allocated() == C.memory_allocated()

    def test_out_of_memory_is_a_runtime_error(self):
        with pytest.raises(RuntimeError, match="ember.cuda: out of memory allocating"):
            C.empty([1 << 50], F32)
        # the failure is cleared: the device still works
        np.testing.assert_array_equal(download(upload(np.arange(5.0))), np.arange(5.0))
