"""ember.Tensor on a CUDA device: moves, elementwise ops and their gradients.
Skipped without a GPU; the raw-binding tests are in test_cuda.py."""

import numpy as np
import pytest

import ember

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
    # the CUDA unary kernel has no erf (elementwise.CPU_ONLY_UNARY); index_select, used
    # here before, has had a CUDA kernel since csrc/cuda/index
    with pytest.raises(NotImplementedError, match="ember.erf: not implemented for cuda"):
        ember.erf(x)
