"""Every public op fed bad input raises a clear Python exception naming the op."""

import math
import warnings

import numpy as np
import pytest

import ember

F = ember.ones(2, 3)
I64 = ember.ones(2, 3, dtype=ember.int64)

CASES = [
    # (callable, exception type, message fragment)
    (lambda: F + ember.ones(4), ValueError, r"ember\.add: shapes \(2, 3\) and \(4,\)"),
    (lambda: F * ember.ones(3, 2), ValueError, "ember.mul"),
    (lambda: F + "a", TypeError, "ember.add"),
    (lambda: ember.where(F, F, F), TypeError, "bool"),
    (lambda: ember.where(F > 0, F, ember.ones(5)), ValueError, "ember.where"),
    (
        lambda: F.matmul(ember.ones(2, 3)),
        ValueError,
        r"ember\.matmul: shapes \(2, 3\) and \(2, 3\) are not aligned \(3 != 2\)",
    ),
    (lambda: ember.matmul(F, ember.tensor(1.0)), ValueError, "ember.matmul"),
    (lambda: ember.matmul(I64, I64.T), TypeError, "ember.matmul"),
    (lambda: F.sum(2), IndexError, "ember.sum: dimension 2 is out of range"),
    (lambda: F.sum((0, 0)), ValueError, "more than once"),
    (lambda: ember.zeros(0).max(), ValueError, "empty"),
    (lambda: ember.zeros(3, 0).argmax(1), ValueError, "empty"),
    (lambda: I64.mean(), TypeError, "ember.mean"),
    (lambda: F.reshape(4), ValueError, r"ember\.reshape: shape \(4,\) is invalid"),
    (lambda: F.reshape(-1, -1), ValueError, "only one dimension"),
    (lambda: F.permute(0, 0), ValueError, "ember.permute"),
    (lambda: F.transpose(0, 5), IndexError, "ember.transpose"),
    (lambda: F.expand(4, 3), ValueError, "ember.expand"),
    (lambda: F[2], IndexError, "out of bounds"),
    (lambda: F[0, 0, 0], IndexError, "too many indices"),
    (lambda: F[:, ::-1], ValueError, "step"),
    (lambda: F[ember.tensor([0.5])], IndexError, "integer or bool"),
    (lambda: F[ember.tensor([5])], IndexError, "out of bounds"),
    (lambda: ember.cat([F, ember.ones(3, 3)], 1), ValueError, "ember.cat"),
    (lambda: ember.cat([]), ValueError, "ember.cat"),
    (lambda: ember.stack([F, ember.ones(3)]), ValueError, "ember.stack"),
    (lambda: F.split(0), ValueError, "ember.split"),
    (lambda: F.split([1, 1], 1), ValueError, "ember.split"),
    (lambda: F.gather(1, ember.tensor([[5, 0, 0], [0, 0, 0]])), IndexError, "ember.gather"),
    (lambda: F.gather(1, ember.ones(2, 3)), TypeError, "ember.gather: index must be an integer"),
    (lambda: F.index_select(0, ember.tensor([2])), IndexError, "ember.index_select"),
    (lambda: F.index_select(0, ember.tensor([[0]])), ValueError, "1-D"),
    (
        lambda: ember.embedding(ember.tensor([10]), ember.ones(10, 2)),
        IndexError,
        "ember.index_select",
    ),
    (lambda: ember.embedding(ember.tensor([0]), ember.ones(10)), ValueError, "ember.embedding"),
    (lambda: ember.one_hot(ember.tensor([-1])), ValueError, "ember.one_hot"),
    (lambda: ember.softmax(F, 3), IndexError, "ember.softmax"),
    (lambda: ember.gelu(F, approximate="fast"), ValueError, "ember.gelu"),
    (lambda: ember.clamp(F), ValueError, "ember.clamp"),
    (lambda: ember.zeros(-2, 3), ValueError, "negative"),
    (lambda: ember.zeros(2**40, 2**40), ValueError, "too many elements|too large"),
    (lambda: ember.empty(1.5), TypeError, "ember.empty"),
    (lambda: ember.arange(0, 5, 0), ValueError, "step"),
    (lambda: ember.arange(0, float("nan")), ValueError, "finite"),
    (lambda: ember.randint(5, 5, (2,)), ValueError, "empty range"),
    (lambda: ember.manual_seed(float("nan")), TypeError, "seed"),
    (lambda: ember.manual_seed(2**70), ValueError, "64 bits"),
    (lambda: ember.tensor([[1], [2, 3]]), ValueError, "rectangular"),
    (lambda: ember.tensor(["a"]), TypeError, "numbers|unsupported"),
    (lambda: ember.from_numpy(np.zeros(2, np.complex64)), TypeError, "not supported"),
    (lambda: F.to("tpu"), ValueError, "unknown device"),
    (lambda: F.to(ember.float32).to("cuda:x"), ValueError, "device index"),
    (lambda: I64.requires_grad_(), RuntimeError, "floating"),
    (lambda: ember.set_num_threads(-1), ValueError, "set_num_threads"),
    # Issue 13: sizes beyond their limits raise before anything is allocated or started.
    (lambda: ember.set_num_threads(10**5), ValueError, r"set_num_threads: expected 1 <= n"),
    (lambda: ember.randint(0.5, 0.7, (2,)), ValueError, "empty range"),
    (lambda: ember.randint(0, 2**70, (2,)), ValueError, "int64 range"),
    (lambda: F.view(2, -1, 2**62), ValueError, r"ember\.view: the size of shape .* overflows"),
    (lambda: ember.zeros(0, 2**62, 2**62), ValueError, "too many elements"),
    (lambda: ember.zeros(*[1] * 65), ValueError, "too many"),
    (
        lambda: ember.nn.functional.max_pool2d(ember.ones(1, 1, 4, 4), 3, dilation=2**62),
        ValueError,
        "ember.max_pool2d: the dilated kernel size overflows",
    ),
    (
        lambda: ember.nn.functional.conv2d(
            ember.ones(1, 1, 4, 4), ember.ones(1, 1, 1, 1), padding=2**62
        ),
        ValueError,
        "ember.conv2d: the padding overflows",
    ),
    (lambda: ember.masked_fill(F, F, 1.0), TypeError, "ember.masked_fill"),
    (lambda: F.view(ember.float16), ValueError, "ember.view"),  # a bit cast of another size
    (lambda: F.narrow(1, 2, 5), IndexError, "ember.narrow"),
    (lambda: F.squeeze(4), IndexError, "ember.squeeze"),
    (lambda: ember.ones(2).bool() + ember.ones(2).bool(), TypeError, "bool"),
]


@pytest.mark.parametrize("fn,exc,msg", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_raises_clear_error(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn()


def test_raw_kernel_bindings_validate_before_touching_memory():
    C = ember._C
    a = ember.ones(4)._impl
    with pytest.raises(ValueError, match="ember.copy"):
        C.copy(ember.ones(3)._impl, a)
    with pytest.raises(ValueError, match="out of bounds"):
        a.as_strided([5], [1], 0)
    with pytest.raises(ValueError, match="out of bounds"):
        a.as_strided([2], [2], 2)
    with pytest.raises(ValueError, match="negative"):
        a.as_strided([2], [-1], 1)
    with pytest.raises(ValueError, match="unknown dtype"):
        C.TensorImpl.empty([2], 42)


def test_cuda_unavailable_is_clean():
    x = ember.ones(2)
    if ember.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="cuda|CUDA"):
        x.cuda()
    with pytest.raises(RuntimeError, match="cuda|CUDA"):
        ember.zeros(2, device="cuda")


# ---- issue 13: conversions that wrapped or saturated, 0-d and empty tensors ---------------
OVERFLOW_CASES = [
    lambda: ember.tensor(float("inf"), dtype=ember.int64),
    lambda: ember.tensor(float("nan"), dtype=ember.int32),
    lambda: ember.tensor([-2.1e15, 300.0], dtype=ember.int8),
    lambda: ember.tensor(np.array([300]), dtype=ember.int8),
    lambda: ember.tensor([2**63]),
    lambda: ember.as_tensor([300], dtype=ember.int8),
    lambda: ember.full((2,), 300, dtype=ember.int8),
    lambda: ember.full((2,), 2**63),
    lambda: ember.full_like(ember.zeros(2, dtype=ember.int8), 300),
    lambda: ember.zeros(2, dtype=ember.int8).fill_(1e20),
    lambda: ember.zeros(2, dtype=ember.float16).fill_(1e10),
    lambda: ember.arange(0, 300, 100, dtype=ember.int8),
    lambda: ember.zeros(3, dtype=ember.int8).__setitem__(0, 300),
    lambda: ember.zeros(3, dtype=ember.int64).masked_fill(ember.tensor([True] * 3), math.inf),
    lambda: ember.clamp(ember.zeros(3, dtype=ember.int8), -300, 300),
    lambda: ember.zeros(3, dtype=ember.int8) < 200,
    lambda: ember.ones(2) + 2**64,
    lambda: ember.ones(2, dtype=ember.bool).fill_(-(2**63) - 1),
]


@pytest.mark.parametrize("fn", OVERFLOW_CASES)
def test_value_that_does_not_fit_raises_overflow(fn):
    with pytest.raises(OverflowError, match="without overflow|out of the int64"):
        fn()


@pytest.mark.parametrize(
    "make", [lambda: np.array([2**64 - 3], np.uint64), lambda: np.array([1], np.uint64)]
)
def test_uint64_is_refused_by_name(make):
    with pytest.raises(TypeError, match="uint64.*supported: bool, int8"):
        ember.tensor(make())
    with pytest.raises(TypeError, match="uint64.*unsigned"):
        ember.from_numpy(make())


@pytest.mark.parametrize("npdt", ["complex64", "object", "str"])
def test_non_numeric_numpy_refused_by_name(npdt):
    with pytest.raises(TypeError, match="supported numpy dtypes"):
        ember.tensor(np.array([1], dtype=npdt))


def test_values_that_fit_convert_exactly():
    assert ember.tensor([-128.0, 127.9 - 0.9], dtype=ember.int8).tolist() == [-128, 127]
    assert ember.tensor(16777217.0, dtype=ember.int32).item() == 16777217
    assert ember.tensor([2**63], dtype=ember.float64).item() == 2.0**63
    assert ember.tensor(np.array([7, 8], np.uint32)).tolist() == [7, 8]


def test_tensor_to_does_not_check_values():
    # Tensor.to follows torch: no check (float -> int saturates, NaN -> 0)
    x = ember.tensor([1e20, float("nan"), 3.5]).to(ember.int8)
    assert x.tolist() == [127, 0, 3]


ZERO_D_OPS = {
    "sum": lambda L, x, d: L.sum(x, d),
    "mean": lambda L, x, d: L.mean(x, d),
    "prod": lambda L, x, d: L.prod(x, d),
    "amax": lambda L, x, d: L.amax(x, d),
    "amin": lambda L, x, d: L.amin(x, d, keepdim=True),
    "max": lambda L, x, d: L.max(x, d)[0],
    "min_indices": lambda L, x, d: L.min(x, d)[1],
    "argmax": lambda L, x, d: L.argmax(x, d),
    "argmin": lambda L, x, d: L.argmin(x, d, keepdim=True),
    "var": lambda L, x, d: L.var(x, d),
    "logsumexp": lambda L, x, d: L.logsumexp(x, d),
    "softmax": lambda L, x, d: L.softmax(x, d),
    "log_softmax": lambda L, x, d: L.log_softmax(x, d),
    "all": lambda L, x, d: L.all(x, d),
    "any": lambda L, x, d: L.any(x, d),
    "squeeze": lambda L, x, d: L.squeeze(x, d),
    "unsqueeze": lambda L, x, d: L.unsqueeze(x, d),
    "transpose": lambda L, x, d: L.transpose(x, d, 0),
    "movedim": lambda L, x, d: L.movedim(x, d, 0),
    "flatten": lambda L, x, d: L.flatten(x, d),
    "narrow": lambda L, x, d: L.narrow(x, d, 0, 0),
    "split": lambda L, x, d: L.split(x, 1, d)[0],
    "chunk": lambda L, x, d: L.chunk(x, 1, d)[0],
    "unbind": lambda L, x, d: L.unbind(x, d)[0],
    "stack": lambda L, x, d: L.stack([x, x], d),
}
SWEEP = [
    (op, shape, d) for op in ZERO_D_OPS for shape in [(), (0,), (2, 0), (0, 3)] for d in (0, -1, 1)
]


def _sweep_answer(lib, op, shape, d):
    x = lib.tensor(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + 1.5)
    try:
        r = ZERO_D_OPS[op](lib, x, d)
    except (IndexError, ValueError, TypeError, RuntimeError) as e:
        return type(e)
    vals = r.tolist() if r.dtype == lib.bool else r.double().tolist()
    return tuple(r.shape), np.asarray(vals, np.float64)


@pytest.mark.parametrize("op,shape,d", SWEEP, ids=[f"{o}-{s}-{d}" for o, s, d in SWEEP])
def test_zero_d_and_empty_match_torch(op, shape, d):
    # issue 13: dim 0 / -1 on 0-d tensors gave "IndexError: tuple index out of range"
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's var with one element
        theirs = _sweep_answer(torch, op, shape, d)
    ours = _sweep_answer(ember, op, shape, d)
    if isinstance(theirs, type):
        # ember raises its own clear error where torch refuses
        assert ours in (IndexError, ValueError), f"torch raised {theirs.__name__}, ember {ours}"
        return
    assert not isinstance(ours, type), f"ember raised {ours.__name__}, torch gave {theirs}"
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, equal_nan=True)


def test_zero_d_cutting_ops_name_the_problem():
    with pytest.raises(IndexError, match="ember.narrow: needs a tensor with at least one"):
        ember.narrow(ember.tensor(1.0), 0, 0, 1)


def test_cross_entropy_label_smoothing_without_classes_is_nan_not_zerodivision():
    x, t = ember.zeros(2, 0), ember.zeros(2, 0)
    assert math.isnan(ember.nn.functional.cross_entropy(x, t, label_smoothing=0.1).item())
    out = ember.nn.functional.cross_entropy(x, t, label_smoothing=0.1, reduction="none")
    assert out.tolist() == [0.0, 0.0]
    empty = ember.nn.functional.cross_entropy(
        ember.zeros(0, 3), ember.zeros(0, dtype=ember.int64), label_smoothing=0.1
    )
    assert math.isnan(empty.item())
