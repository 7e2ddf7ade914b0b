"""ember.Tensor on a CUDA device: moves, elementwise ops and their gradients.
Skipped without a GPU; the raw-binding tests are in test_cuda.py."""

import numpy as np
import pytest

import ember
from ember.ops.qblock import quantize_q8_0

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not ember.cuda.is_available(), reason="no CUDA GPU"),
]


def test_round_trip_and_elementwise(rng):
    a = rng.standard_normal((33, 17)).astype(np.float32)
    x = ember.tensor(a).cuda()
    assert x.is_cuda and x.device == "cuda:0" and "cuda:0" in repr(x)
    np.testing.assert_array_equal(x.cpu().numpy(), a)
    y = (x * 2 + 1).tanh()
    want = np.tanh(a.astype(np.float64) * 2 + 1)
    np.testing.assert_allclose(y.cpu().numpy(), want, rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(x.T.contiguous().cpu().numpy(), a.T)
    np.testing.assert_array_equal((x > 0).cpu().numpy(), a > 0)
    np.testing.assert_array_equal(x.half().float().cpu().numpy(), a.astype(np.float16))
    z = ember.zeros(3, 4, device="cuda")
    z += 2
    assert z.cpu().tolist() == [[2.0] * 4] * 3


def test_autograd_of_elementwise_ops_on_cuda(rng):
    a = rng.standard_normal(1000).astype(np.float32)
    x = ember.tensor(a, device="cuda", requires_grad=True)
    y = (x * x).sigmoid() * 3
    y.backward(ember.ones_like(y))
    s = 1 / (1 + np.exp(-(a.astype(np.float64) ** 2)))
    np.testing.assert_allclose(x.grad.cpu().numpy(), 3 * s * (1 - s) * 2 * a, rtol=1e-5, atol=1e-6)


def test_mixed_devices_and_missing_kernels_raise():
    x = ember.ones(3, device="cuda")
    with pytest.raises(ValueError, match="same device"):
        x + ember.ones(3)
    # the ggml block quantization kernels are CPU only (csrc/cpu/qblock); erf and
    # index_select, used here before, have CUDA kernels now
    with pytest.raises(NotImplementedError, match="not implemented for cuda"):
        quantize_q8_0(ember.ones(2, 32, device="cuda"))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("op", ["floor", "ceil", "trunc", "round", "log1p", "expm1", "erf"])
def test_rounding_and_special_functions_match_cpu(rng, op, dtype):
    a = rng.standard_normal(1000) * 3
    a[:8] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.0, 0.0]
    if op == "log1p":
        a = np.abs(a) - 0.9
    x = ember.tensor(a, dtype=dtype, requires_grad=True)
    xc = ember.tensor(a, dtype=dtype, device="cuda", requires_grad=True)
    y, yc = getattr(ember, op)(x), getattr(ember, op)(xc)
    assert yc.is_cuda and yc.dtype is dtype
    # CUDA's libm and the CPU kernels each stay within a few ulps of the exact value
    tol = {"rtol": 1e-6, "atol": 0} if dtype is ember.float32 else {"rtol": 1e-14, "atol": 0}
    if op in ("floor", "ceil", "trunc", "round"):  # bit for bit: signed zeros too
        got, want = yc.detach().cpu().numpy(), y.detach().numpy()
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    else:
        np.testing.assert_allclose(yc.detach().cpu().numpy(), y.detach().numpy(), **tol)
    g = rng.standard_normal(1000)
    y.backward(ember.tensor(g, dtype=dtype))
    yc.backward(ember.tensor(g, dtype=dtype, device="cuda"))
    assert xc.grad.is_cuda
    # expm1's g * (y + 1) turns an ulp of y near -1 into a large relative error: bound
    # the gradients' error absolutely, by a few ulps of 1 times |g| (< 5 here)
    atol = 1e-6 if dtype is ember.float32 else 2e-15
    np.testing.assert_allclose(xc.grad.cpu().numpy(), x.grad.numpy(), rtol=tol["rtol"], atol=atol)
    # in place, on a CUDA tensor
    t = ember.tensor(a, dtype=dtype, device="cuda")
    assert getattr(t, op + "_")() is t
    np.testing.assert_array_equal(t.cpu().numpy(), yc.detach().cpu().numpy())


@pytest.mark.parametrize("decimals", [2, -1])
def test_round_decimals_and_integer_rounding_on_cuda(rng, decimals):
    a = (rng.standard_normal(500) * 1000).astype(np.float32)
    want = ember.round(ember.tensor(a), decimals=decimals).numpy()
    got = ember.round(ember.tensor(a, device="cuda"), decimals=decimals).cpu().numpy()
    np.testing.assert_array_equal(got, want)
    xi = ember.tensor([-3, 0, 7], dtype=ember.int32, device="cuda")
    for op in ("floor", "ceil", "trunc", "round"):
        y = getattr(ember, op)(xi)  # integers are integral: a copy
        assert y.is_cuda and y.dtype is ember.int32 and y.cpu().tolist() == [-3, 0, 7]
        assert y.data_ptr() != xi.data_ptr()
    assert ember.erf(xi).dtype is ember.float32  # int -> float, as on the CPU


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64, ember.bool])
@pytest.mark.parametrize("n, m", [(4, None), (3, 5), (5, 2), (0, 3)])
def test_eye_on_cuda(dtype, n, m):
    t = ember.eye(n, m, dtype=dtype, device="cuda")
    assert t.is_cuda and t.dtype is dtype
    np.testing.assert_array_equal(t.cpu().numpy(), ember.eye(n, m, dtype=dtype).numpy())
    assert ember.eye(n, m, device="cuda", requires_grad=True).requires_grad
