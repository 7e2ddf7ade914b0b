"""detach / is_floating_point as functions, set_default_dtype, normal and exponential_
against torch (random draws differ, so shapes, dtypes and statistics are compared)."""

import numpy as np
import pytest
from torch_compare import torch

import ember
import ember.nn as nn


def test_detach_and_is_floating_point():
    x = ember.ones(3, requires_grad=True) * 2
    d = ember.detach(x)
    assert not d.requires_grad and d.grad_fn is None and d.data_ptr() == x.data_ptr()
    for dt in ("float32", "float64", "float16", "bfloat16", "int64", "int8", "bool"):
        e = ember.zeros(2, dtype=getattr(ember, dt))
        t = torch.zeros(2, dtype=getattr(torch, dt))
        assert ember.is_floating_point(e) == torch.is_floating_point(t)


@pytest.fixture
def float64_default():
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    yield
    ember.set_default_dtype(ember.float32)
    torch.set_default_dtype(torch.float32)


def _name(dt):
    return str(dt).split(".")[-1]


def test_set_default_dtype(float64_default):
    assert ember.get_default_dtype() is ember.float64
    made = [
        (lambda m: m.tensor([1.5, 2.0])),
        (lambda m: m.tensor(3.0)),
        (lambda m: m.zeros(2)),
        (lambda m: m.ones(2, 3)),
        (lambda m: m.randn(2)),
        (lambda m: m.rand(2)),
        (lambda m: m.arange(0.0, 1.0, 0.25)),
        (lambda m: m.full((2,), 1.5)),
        (lambda m: m.linspace(0, 1, 5)),
        (lambda m: m.tensor([1, 2]) * 0.5),
        (lambda m: m.tensor([1, 2]) / 2),
        (lambda m: m.nn.Linear(2, 3).weight),
        (lambda m: m.nn.LayerNorm(3).weight),
        (lambda m: m.tensor([1, 2])),
    ]
    for make in made:
        assert _name(make(ember).dtype) == _name(make(torch).dtype)
    x = ember.tensor([0.1])
    assert x.item() == 0.1  # stored in float64, not rounded through float32
    lin = nn.Linear(2, 3)
    assert lin(ember.randn(4, 2)).dtype is ember.float64


def test_set_default_dtype_rejects_others():
    for bad in (ember.int64, ember.float16, "nope", 3):
        with pytest.raises(TypeError, match="float32 and float64"):
            ember.set_default_dtype(bad)
    assert ember.get_default_dtype() is ember.float32


def test_normal_forms():
    g = ember.Generator().manual_seed(0)
    mean = ember.zeros(2000, 3) + ember.tensor([0.0, 10.0, -5.0])
    std = ember.tensor([1.0, 0.1, 3.0])
    x = ember.normal(mean, std, generator=g)
    assert x.shape == (2000, 3) and x.dtype is ember.float32
    np.testing.assert_allclose(x.numpy().mean(0), [0, 10, -5], atol=0.2)
    np.testing.assert_allclose(x.numpy().std(0), [1, 0.1, 3], rtol=0.08)
    assert ember.normal(ember.zeros(4), 2.0).shape == (4,)
    assert ember.normal(1.0, ember.ones(2, 3)).shape == (2, 3)
    y = ember.normal(2.0, 0.5, (3000,), generator=ember.Generator().manual_seed(1))
    assert abs(y.numpy().mean() - 2.0) < 0.05 and abs(y.numpy().std() - 0.5) < 0.03
    assert ember.normal(2.0, 0.5, size=(2, 2), dtype=ember.float64).dtype is ember.float64
    # same generator seed, same draws
    a = ember.normal(ember.zeros(5), 1.0, generator=ember.Generator().manual_seed(7))
    b = ember.normal(ember.zeros(5), 1.0, generator=ember.Generator().manual_seed(7))
    assert a.tolist() == b.tolist()
    # torch's shapes for the same calls
    assert tuple(torch.normal(torch.zeros(4), 2.0).shape) == (4,)
    assert tuple(torch.normal(2.0, 0.5, (3, 2)).shape) == tuple(
        ember.normal(2.0, 0.5, (3, 2)).shape
    )


def test_normal_errors():
    with pytest.raises(TypeError, match="size is required"):
        ember.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="std"):
        ember.normal(ember.zeros(2), -1.0)
    with pytest.raises(ValueError, match="std"):
        ember.normal(ember.zeros(2), ember.tensor([1.0, -1.0]))


def test_exponential_():
    x = ember.empty(20000)
    assert x.exponential_(2.0, generator=ember.Generator().manual_seed(3)) is x
    v = x.numpy()
    assert (v >= 0).all() and np.isfinite(v).all()
    assert abs(v.mean() - 0.5) < 0.02 and abs(np.median(v) - np.log(2) / 2) < 0.02
    t = torch.empty(20000).exponential_(2.0)
    assert abs(float(t.mean()) - v.mean()) < 0.03
    with pytest.raises(ValueError, match="lambd"):
        ember.empty(2).exponential_(0.0)
