"""Pooling kernels and ops against direct-loop float64 references: max (values and
indices), average (padding, ceil_mode, count_include_pad, divisor_override), adaptive
average; gradchecks; every ISA; 1 vs 2 threads bitwise; the nn modules; argument errors."""

import ember._C as _C
import numpy as np
import pytest
from pool_reference import adaptive_avg_pool2d as ref_adaptive
from pool_reference import avg_pool2d as ref_avg
from pool_reference import max_pool2d as ref_max

import ember
import ember.nn.functional as F
from ember import nn
from ember.autograd import gradcheck

T = _C.TensorImpl.from_buffer

# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 1, 15, 17), (3, 2), (1, 2), (1, 1), (2, 1), False),
    ((1, 4, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), True),
    ((3, 2, 33, 31), (4, 4), (3, 3), (2, 1), (1, 1), True),
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),
]


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_kernel(case, isa, rng):
    shape, k, s, p, d, ceil = case
    x = rng.standard_normal(shape).astype(np.float32)
    ref, ref_idx = ref_max(x, k, s, p, d, ceil)
    oh = _C.pool_output_size(shape[2], k[0], s[0], p[0], d[0], ceil)
    ow = _C.pool_output_size(shape[3], k[1], s[1], p[1], d[1], ceil)
    assert ref.shape[2:] == (oh, ow)
    out = np.full(ref.shape, np.nan, np.float32)
    idx = np.full(ref.shape, -7, np.int64)
    _C.max_pool2d(T(x), T(out), T(idx), k, s, p, d, ceil)
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    np.testing.assert_array_equal(idx, ref_idx)
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    gx = np.full(shape, np.nan, np.float32)
    _C.max_pool2d_backward(T(gy), T(idx), T(gx))
    want = np.zeros(shape)
    flat = want.reshape(shape[0] * shape[1], -1)
    for pl, (ii, gg) in enumerate(
        zip(idx.reshape(flat.shape[0], -1), gy.reshape(flat.shape[0], -1))
    ):
        np.add.at(flat[pl], ii, gg)
    np.testing.assert_allclose(gx, want, rtol=1e-6, atol=1e-6)


def test_max_pool_nan_and_inf(rng):
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 2:, 2:] = -np.inf
    out = F.max_pool2d(ember.tensor(x), 2)
    assert np.isnan(out.numpy()[0, 0, 0, 0])
    assert out.numpy()[0, 0, 1, 1] == -np.inf
    vals, idx = F.max_pool2d(ember.tensor(x), 2, return_indices=True)
    assert idx.numpy()[0, 0, 1, 1] == 10  # first element of an all -inf window


AVG_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), True, True, None),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), True, False, None),
    ((2, 1, 15, 17), (3, 2), (1, 2), (1, 1), False, False, 5),
    ((3, 2, 33, 31), (4, 4), (3, 3), (2, 1), True, True, None),
]


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool(case, isa, rng):
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape).astype(np.float32)
    ref = ref_avg(x, k, s, p, ceil, cip, div)
    out = F.avg_pool2d(ember.tensor(x), k, s, p, ceil, cip, div)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    xd = ember.tensor(x.astype(np.float64)[:1, :1, :6, :7], requires_grad=True)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, min(p[0], 1), ceil, cip, div), [xd])


@pytest.mark.parametrize(
    "shape,out",
    [((2, 3, 8, 8), (1, 1)), ((1, 2, 7, 9), (3, 4)), ((1, 1, 5, 5), (7, 6)), ((2, 2, 10, 3), 2)],
)
def test_adaptive_avg_pool(shape, out, isa, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    oh, ow = (out, out) if isinstance(out, int) else out
    got = F.adaptive_avg_pool2d(ember.tensor(x), out)
    np.testing.assert_allclose(got.numpy(), ref_adaptive(x, oh, ow), rtol=1e-5, atol=1e-6)
    xd = ember.tensor(x.astype(np.float64)[:1, :1], requires_grad=True)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [xd])


def test_adaptive_none_keeps_dim(rng):
    a = rng.standard_normal((2, 3, 6, 5))
    out = F.adaptive_avg_pool2d(ember.tensor(a), (None, 2)).numpy()
    # columns [0, 3) and [2, 5): the windows overlap by one (floor / ceil bounds)
    want = np.stack([a[..., 0:3].mean(-1), a[..., 2:5].mean(-1)], axis=-1)
    np.testing.assert_allclose(out, want, rtol=1e-12)


@pytest.mark.parametrize("case", MAX_CASES[:4])
def test_max_pool_gradcheck(case, rng):
    shape, k, s, p, d, ceil = case
    # Distinct values: finite differences are ill-defined at ties.
    x = rng.permutation(np.prod(shape[2:]) * shape[1]).reshape((1, *shape[1:])) / 7.0
    xd = ember.tensor(x, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil), [xd])


def test_unbatched_pool(rng):
    a = rng.standard_normal((3, 8, 8))
    x = ember.tensor(a)
    blocks = a.reshape(3, 4, 2, 4, 2)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy(), blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(F.avg_pool2d(x, 2).numpy(), blocks.mean(axis=(2, 4)), rtol=1e-12)
    np.testing.assert_allclose(
        F.adaptive_avg_pool2d(x, 1).numpy(), a.mean(axis=(1, 2), keepdims=True), rtol=1e-12
    )


def test_pool_threads_bitwise(rng):
    x = ember.tensor(rng.standard_normal((8, 16, 33, 35)).astype(np.float32), requires_grad=True)
    old = ember.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            x.grad = None
            a = F.max_pool2d(x, 3, 2, 1)
            b = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
            c = F.adaptive_avg_pool2d(x, (5, 7))
            (a.sum() + b.sum() + c.sum()).backward()
            results.append([t.detach().numpy().copy() for t in (a, b, c, x.grad)])
    finally:
        ember.set_num_threads(old)
    for u, v in zip(*results):
        assert np.array_equal(u, v)


def test_pool_modules(rng):
    x = ember.tensor(rng.standard_normal((2, 3, 9, 9)).astype(np.float32))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape == (2, 3, 5, 5)
    vals, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    assert vals.shape == idx.shape == (2, 3, 5, 5) and idx.dtype is ember.int64
    assert nn.AvgPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 5, 5)
    assert nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 3, 2, 3)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    np.testing.assert_allclose(
        nn.AdaptiveAvgPool2d(1)(x).numpy()[..., 0, 0], x.numpy().mean(axis=(2, 3)), rtol=1e-5
    )


def test_errors():
    with pytest.raises(ValueError, match=r"ember.max_pool2d: expected a 3-D .*got shape \(4, 4\)"):
        F.max_pool2d(ember.randn(4, 4), 2)
    with pytest.raises(ValueError, match="ember.avg_pool2d: expected"):
        nn.AvgPool2d(2)(ember.randn(1, 1, 1, 4, 4))
    with pytest.raises(ValueError, match="ember.max_pool2d: padding .* at most half"):
        F.max_pool2d(ember.randn(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(ValueError, match="ember.avg_pool2d: padding must be non-negative"):
        F.avg_pool2d(ember.randn(1, 1, 5, 5), 2, padding=-1)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(ember.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(ember.randn(1, 1, 4, 4), (0, 2))
    with pytest.raises(TypeError, match="ember.max_pool2d: needs floating-point"):
        F.max_pool2d(ember.zeros(1, 1, 4, 4, dtype=ember.int64), 2)
    gy = np.zeros((1, 3), np.float32)
    with pytest.raises(IndexError, match="index 99 out of range"):
        _C.max_pool2d_backward(
            T(np.zeros((1, 1, 1, 2), np.float32)),
            T(np.array([[[[0, 99]]]], np.int64)),
            T(np.zeros((1, 1, 2, 2), np.float32)),
        )
    del gy
