"""Every public op fed bad input raises a clear Python exception naming the op."""

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
    (lambda: F.view(ember.float16), TypeError, "ember.view"),
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
